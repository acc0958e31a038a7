/* The scan for hugetlb holders (model/holders.c) on the fake procfs tree
 * tests/fixtures/procfs-holders (see its README.md), with the sizes of the
 * x86-2node machine; the cgroup paths the kubelet makes; odd processes in a
 * tree built here; and one scan of the real /proc. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../model/holders.h"
#include "fixture.h"

#define VL_UID "7c1f5b2e-3a4d-4e8f-9b6a-2d1c0e9f8a7b"
#define VL_CID "3f9a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a"
#define LH_UID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define BE_UID "5d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09"
#define BE_CID "9b8a7c6d5e4f30211f2e3d4c5b6a79881f2e3d4c5b6a79889b8a7c6d5e4f3021"

struct ctx {
        char *dir; /* the x86-2node copy */
        struct sysfs machine;
        struct sizes s;
        struct sysfs procs; /* procfs-holders */
};

static int setup(void **state)
{
        struct ctx *c = calloc(1, sizeof(*c));
        c->dir = fixture_copy("x86-2node");
        fixture_sysfs(c->dir, &c->machine);
        struct errbuf err;
        if (sizes_read(&c->machine, 4, &c->s, &err) < 0)
                fail_msg("cannot read x86-2node: %s", err.msg);
        assert_int_equal(sysfs_init(&c->procs, FIXTURES "/x86-2node/sys", FIXTURES "/procfs-holders/proc"),
                         0);
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        struct ctx *c = *state;
        sizes_release(&c->s);
        sysfs_release(&c->machine);
        sysfs_release(&c->procs);
        fixture_remove(c->dir);
        free(c);
        return 0;
}

static void expect_pages(const struct holder *h, size_t i, uint64_t size_kb, int node, uint64_t pages)
{
        if (i >= h->n_pages)
                fail_msg("pid %d has %zu page entries, wanted entry %zu", h->pid, h->n_pages, i);
        const struct holder_pages *p = &h->pages[i];
        if (p->size_kb != size_kb || p->node != node || p->pages != pages)
                fail_msg("pid %d entry %zu: %" PRIu64 " kB node %d %" PRIu64 " pages; expected %" PRIu64
                         " kB node %d %" PRIu64,
                         h->pid, i, p->size_kb, p->node, p->pages, size_kb, node, pages);
}

static void test_scan_fixture(void **state)
{
        struct ctx *c = *state;
        struct holders h;
        struct errbuf err;
        assert_int_equal(holders_scan(&c->procs, &c->s, NULL, &h, &err), 0);
        assert_int_equal(h.scanned, 7); /* 1 2 777 4242 4300 5150 6001; not meminfo, uptime, sys */
        assert_false(h.truncated);
        assert_int_equal(h.n_found, 4);
        assert_int_equal(h.n, 4);
        assert_int_equal(h.found_kb, 12288 + 12288 + 8192 + 4096);

        /* Sorted by size, then pid. */
        const struct holder *q = &h.items[0], *v = &h.items[1], *spdk = &h.items[2], *web = &h.items[3];
        assert_int_equal(q->pid, 4242);
        assert_int_equal(v->pid, 4300);
        assert_int_equal(spdk->pid, 777);
        assert_int_equal(web->pid, 5150);

        /* A virt-launcher's QEMU: cgroup v2, systemd driver, Burstable. */
        assert_string_equal(q->name, "qemu-kvm");
        assert_int_equal(q->hugetlb_kb, 12288);
        assert_string_equal(q->pod_uid, VL_UID);
        assert_string_equal(q->container_id, VL_CID);
        assert_string_equal(q->container_runtime, "containerd");
        assert_string_equal(q->qos_class, "burstable");
        assert_string_equal(q->vm_domain, "default_db-1");
        assert_string_equal(q->vm_namespace, "default");
        assert_string_equal(q->vm_name, "db-1");
        assert_non_null(q->command);
        static const char start[] = "/usr/libexec/qemu-kvm -name guest=default_db-1,debug-threads=on -S ";
        assert_true(strncmp(q->command, start, sizeof(start) - 1) == 0);
        assert_int_equal(strlen(q->command), HOLDERS_COMMAND_MAX);
        assert_string_equal(q->command + HOLDERS_COMMAND_MAX - 3, "...");
        assert_true(q->pages_known);
        assert_int_equal(q->n_pages, 2);
        expect_pages(q, 0, 2048, 0, 4);
        expect_pages(q, 1, 2048, 1, 2);
        assert_int_equal(holder_pages_of(q, 2048, -1), 6);
        assert_int_equal(holder_pages_of(q, 2048, 1), 2);
        assert_int_equal(holder_pages_of(q, 1048576, -1), 0);

        /* No numa_maps: only 2Mi pages are in use on this machine, so its
         * pages are 2Mi ones, on a node we cannot tell. */
        assert_string_equal(v->name, "virtiofsd");
        assert_string_equal(v->pod_uid, VL_UID);
        assert_string_not_equal(v->container_id, VL_CID);
        assert_true(v->pages_known);
        assert_int_equal(v->n_pages, 1);
        expect_pages(v, 0, 2048, -1, 6);
        assert_int_equal(holder_pages_of(v, 2048, -1), 6);
        assert_int_equal(holder_pages_of(v, 2048, 0), UINT64_MAX);
        assert_string_equal(v->vm_domain, "");

        /* Longhorn's SPDK target: Guaranteed ("kubepods-pod<uid>.slice"). */
        assert_string_equal(spdk->name, "reactor_0");
        assert_string_equal(spdk->pod_uid, LH_UID);
        assert_string_equal(spdk->qos_class, "guaranteed");
        assert_string_equal(spdk->command,
                            "/usr/local/bin/spdk_tgt --json /var/lib/longhorn/spdk.json -m 0x1 "
                            "--iova-mode=pa");
        expect_pages(spdk, 0, 2048, 0, 2);
        expect_pages(spdk, 1, 2048, 1, 2);

        /* cgroup v1 with the cgroupfs driver: no runtime in the path. */
        assert_string_equal(web->pod_uid, BE_UID);
        assert_string_equal(web->container_id, BE_CID);
        assert_string_equal(web->container_runtime, "");
        assert_string_equal(web->qos_class, "besteffort");
        assert_string_equal(web->vm_namespace, "tenant-a");
        assert_string_equal(web->vm_name, "web");
        assert_int_equal(web->n_pages, 1);
        expect_pages(web, 0, 2048, 1, 2);

        /* The fixture matches x86-2node: 12 pages in use, 6 per node (the
         * memfd shared with virtiofsd counts once). */
        uint64_t n0 = 0, n1 = 0;
        for (size_t i = 0; i < h.n; i++) {
                if (h.items[i].pid == 4300)
                        continue;
                n0 += holder_pages_of(&h.items[i], 2048, 0);
                n1 += holder_pages_of(&h.items[i], 2048, 1);
        }
        assert_int_equal(n0, 6);
        assert_int_equal(n1, 6);
        holders_release(&h);
        holders_release(NULL);
}

static void test_bounds(void **state)
{
        struct ctx *c = *state;
        struct holders h;
        struct errbuf err;

        struct holders_opts o = { .max_holders = 2 };
        assert_int_equal(holders_scan(&c->procs, &c->s, &o, &h, &err), 0);
        assert_int_equal(h.n, 2);
        assert_int_equal(h.n_found, 4);
        assert_int_equal(h.found_kb, 36864);
        assert_int_equal(h.items[0].pid, 4242);
        assert_int_equal(h.items[1].pid, 4300);
        holders_release(&h);

        o = (struct holders_opts){ .max_holders = 1 };
        assert_int_equal(holders_scan(&c->procs, &c->s, &o, &h, &err), 0);
        assert_int_equal(h.n, 1);
        assert_int_equal(h.items[0].pid, 4242);
        holders_release(&h);

        o = (struct holders_opts){ .max_scan = 3 };
        assert_int_equal(holders_scan(&c->procs, &c->s, &o, &h, &err), 0);
        assert_int_equal(h.scanned, 3);
        assert_true(h.truncated);
        assert_true(h.n <= 3);
        holders_release(&h);

        o = (struct holders_opts){ .max_scan = 7 };
        assert_int_equal(holders_scan(&c->procs, &c->s, &o, &h, &err), 0);
        assert_int_equal(h.scanned, 7);
        assert_false(h.truncated);
        holders_release(&h);
}

static void test_without_details(void **state)
{
        struct ctx *c = *state;
        struct holders h;
        struct errbuf err;
        struct holders_opts o = { .no_details = true };
        assert_int_equal(holders_scan(&c->procs, &c->s, &o, &h, &err), 0);
        assert_int_equal(h.n, 4);
        for (size_t i = 0; i < h.n; i++) {
                assert_true(h.items[i].pages_known);
                assert_int_equal(h.items[i].n_pages, 1);
                assert_int_equal(h.items[i].pages[0].node, -1);
        }
        assert_int_equal(h.items[0].pages[0].pages, 6);
        assert_string_equal(h.items[0].pod_uid, VL_UID); /* the cgroup is still read */
        holders_release(&h);

        /* Without sizes there is nothing to guess from. */
        assert_int_equal(holders_scan(&c->procs, NULL, &o, &h, &err), 0);
        for (size_t i = 0; i < h.n; i++) {
                assert_false(h.items[i].pages_known);
                assert_int_equal(holder_pages_of(&h.items[i], 2048, -1), UINT64_MAX);
        }
        holders_release(&h);
}

/* With 1Gi pages in use too, a holder without numa_maps cannot be split. */
static void test_two_sizes_in_use(void **state)
{
        struct ctx *c = *state;
        char *dir = fixture_copy("x86-2node");
        fixture_put(dir, "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "1\n");
        fixture_put(dir, "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/free_hugepages", "0\n");
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct sizes s;
        struct errbuf err;
        assert_int_equal(sizes_read(&fs, 4, &s, &err), 0);
        struct holders h;
        assert_int_equal(holders_scan(&c->procs, &s, NULL, &h, &err), 0);
        assert_int_equal(h.items[1].pid, 4300);
        assert_false(h.items[1].pages_known);
        assert_int_equal(h.items[1].n_pages, 0);
        assert_true(h.items[0].pages_known); /* numa_maps does not guess */
        holders_release(&h);
        sizes_release(&s);
        sysfs_release(&fs);
        fixture_remove(dir);
}

/* ---- cgroup paths ----------------------------------------------------- */

struct cgroup_case {
        const char *text;
        const char *uid, *container, *runtime, *qos;
};

static void test_cgroup_paths(void **state)
{
        (void) state;
        static const struct cgroup_case cases[] = {
                { "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1f5b2e_3a4d_4e8f_9b6a_"
                  "2d1c0e9f8a7b.slice/cri-containerd-" VL_CID ".scope\n",
                  VL_UID, VL_CID, "containerd", "burstable" },
                { "0::/kubepods.slice/kubepods-besteffort.slice/"
                  "kubepods-besteffort-pod7c1f5b2e_3a4d_4e8f_9b6a_"
                  "2d1c0e9f8a7b.slice/crio-" VL_CID ".scope\n",
                  VL_UID, VL_CID, "cri-o", "besteffort" },
                { "0::/kubepods.slice/kubepods-pod7c1f5b2e_3a4d_4e8f_9b6a_2d1c0e9f8a7b.slice/docker-" VL_CID
                  ".scope",
                  VL_UID, VL_CID, "docker", "guaranteed" },
                /* conmon runs beside the container, in the pod: no container. */
                { "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1f5b2e_3a4d_4e8f_9b6a_"
                  "2d1c0e9f8a7b.slice/crio-conmon-" VL_CID ".scope\n",
                  VL_UID, "", "", "burstable" },
                /* The pod's own cgroup (no container under it). */
                { "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1f5b2e_3a4d_4e8f_9b6a_"
                  "2d1c0e9f8a7b.slice\n",
                  VL_UID, "", "", "burstable" },
                /* cgroupfs driver, v2 and v1, Guaranteed and Burstable. */
                { "0::/kubepods/pod" BE_UID "/" BE_CID "\n", BE_UID, BE_CID, "", "guaranteed" },
                { "0::/kubepods/burstable/pod" BE_UID "/" BE_CID "\n", BE_UID, BE_CID, "", "burstable" },
                { "12:memory:/system.slice/kubelet.service\n11:pids:/kubepods/besteffort/pod" BE_UID
                  "/" BE_CID "\n0::/\n",
                  BE_UID, BE_CID, "", "besteffort" },
                /* A child cgroup under the container (KubeVirt moves some
                 * threads into one) still names the pod and container. */
                { "0::/kubepods/burstable/pod" BE_UID "/" BE_CID "/housekeeping\n", BE_UID, BE_CID, "",
                  "burstable" },
                /* Seen from inside a cgroup namespace. */
                { "0::/../../kubepods-burstable-pod7c1f5b2e_3a4d_4e8f_9b6a_2d1c0e9f8a7b.slice/"
                  "cri-containerd-" VL_CID ".scope\n",
                  VL_UID, VL_CID, "containerd", "burstable" },
                /* A static pod's UID is a 32-digit hash. */
                { "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-"
                  "pod0123456789abcdef0123456789abcdef.slice/cri-containerd-" VL_CID ".scope\n",
                  "0123456789abcdef0123456789abcdef", VL_CID, "containerd", "burstable" },
                /* Short container ids (docker's cgroupfs names are 64). */
                { "0::/kubepods/pod" BE_UID "/0123456789ab\n", BE_UID, "0123456789ab", "", "guaranteed" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct holder h = { 0 };
                if (!holders_parse_cgroup(cases[i].text, &h))
                        fail_msg("case %zu: no pod found in %s", i, cases[i].text);
                if (strcmp(h.pod_uid, cases[i].uid) || strcmp(h.container_id, cases[i].container) ||
                    strcmp(h.container_runtime, cases[i].runtime) || strcmp(h.qos_class, cases[i].qos))
                        fail_msg(
                                "case %zu: got uid \"%s\" container \"%s\" runtime \"%s\" qos \"%s\" from %s",
                                i, h.pod_uid, h.container_id, h.container_runtime, h.qos_class,
                                cases[i].text);
        }

        static const char *const not_pods[] = {
                "0::/\n",
                "0::/init.scope\n",
                "0::/user.slice/user-0.slice/session-3.scope\n",
                "0::/system.slice/containerd.service\n",
                "0::/system.slice/docker-" VL_CID ".scope\n",
                "9:name=systemd:/\n4:memory:/process_api/84808107e853332c49b0346c85699ea2\n0::/\n",
                "0::/kubepods.slice/kubepods-burstable.slice\n",
                "0::/kubepods/burstable/podXYZ/" BE_CID "\n",
                "0::/kubepods/burstable/pod5D3C2B1A-0F9E-4D8C-B7A6-5E4D3C2B1A09/" BE_CID "\n",
                "0::/kubepods-burstable-pod7c1f5b2e-3a4d-4e8f-9b6a-2d1c0e9f8a7b\n", /* no .slice */
                "0::/pod" BE_UID "/" BE_CID "\n",                                   /* not under kubepods */
                "garbage without colons\n",
                "",
        };
        for (size_t i = 0; i < sizeof(not_pods) / sizeof(not_pods[0]); i++) {
                struct holder h = { 0 };
                if (holders_parse_cgroup(not_pods[i], &h))
                        fail_msg("found pod \"%s\" in %s", h.pod_uid, not_pods[i]);
                assert_string_equal(h.pod_uid, "");
        }
}

/* ---- odd processes ---------------------------------------------------- */

static void put(const char *dir, const char *rel, const char *content, size_t len)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, len, f), len);
        fclose(f);
}

static void puts_(const char *dir, const char *rel, const char *content)
{
        put(dir, rel, content, strlen(content));
}

static void test_odd_processes(void **state)
{
        struct ctx *c = *state;
        char tmpl[] = "/tmp/hugepaged-test-XXXXXX";
        char *dir = mkdtemp(tmpl);
        assert_non_null(dir);

        /* 100: a "Groups:" line of 8 kB pushes HugetlbPages past the first
         * 4 kB read. */
        char *status = malloc(16384);
        int n = snprintf(status, 16384, "Name:\tmany-groups\nUmask:\t0022\nState:\tS (sleeping)\nGroups:\t");
        for (int g = 0; g < 1600; g++)
                n += snprintf(status + n, (size_t) (16384 - n), "%d ", 100000 + g);
        snprintf(status + n, (size_t) (16384 - n),
                 "\nVmSwap:\t       0 kB\nHugetlbPages:\t    2048 kB\nThreads:\t1\n");
        puts_(dir, "100/status", status);
        free(status);

        /* 101: a name with bytes that are not ASCII, a command line too. */
        puts_(dir, "101/status", "Name:\tv\xc3\xa9m\\nx\nHugetlbPages:\t    4096 kB\n");
        static const char args[] = "/opt/v\xc3\xa9m\0--flag\0\x01\0";
        put(dir, "101/cmdline", args, sizeof(args) - 1);
        puts_(dir, "101/cgroup", "0::/\n");

        /* 102: a malformed HugetlbPages line is skipped, as is 103 without
         * status (a process that ended), 104 with no pages and "0105". */
        puts_(dir, "102/status", "Name:\tbad\nHugetlbPages:\t  abc kB\n");
        puts_(dir, "103/cgroup", "0::/\n");
        puts_(dir, "104/status", "Name:\tnone\nHugetlbPages:\t       0 kB\n");
        puts_(dir, "0105/status", "Name:\tzero\nHugetlbPages:\t    2048 kB\n");

        /* 106: numa_maps with a line longer than the reader's buffer: the
         * split is not trusted (and falls back to the single-size rule). */
        puts_(dir, "106/status", "Name:\tlongpath\nHugetlbPages:\t    2048 kB\n");
        char *maps = malloc(20000);
        n = snprintf(maps, 20000, "7f0000000000 default file=/");
        memset(maps + n, 'p', 9000);
        n += 9000;
        n += snprintf(maps + n, (size_t) (20000 - n), " huge dirty=1 N0=1 kernelpagesize_kB=2048\n");
        puts_(dir, "106/numa_maps", maps);
        free(maps);

        /* 107: a 1Gi page in numa_maps alongside 2Mi ones, sizes sorted. */
        puts_(dir, "107/status", "Name:\tmixed\nHugetlbPages:\t 1052672 kB\n");
        puts_(dir, "107/numa_maps",
              "7f0040000000 default file=/anon_hugepage\\040(deleted) huge anon=1 dirty=1 N1=1 "
              "kernelpagesize_kB=1048576\n"
              "7f0000000000 default file=/memfd:x\\040(deleted) huge dirty=2 N1=1 N0=1 "
              "kernelpagesize_kB=2048\n"
              "7f0100000000 default anon=10 dirty=10 N0=10 kernelpagesize_kB=4\n");
        puts_(dir, "107/cmdline", "");

        struct sysfs fs;
        assert_int_equal(sysfs_init(&fs, "/nonexistent", dir), 0);
        struct holders h;
        struct errbuf err;
        assert_int_equal(holders_scan(&fs, &c->s, NULL, &h, &err), 0);
        assert_int_equal(h.n, 4);
        assert_int_equal(h.scanned, 7); /* 100-104, 106, 107 */

        assert_int_equal(h.items[0].pid, 107);
        assert_true(h.items[0].pages_known);
        assert_int_equal(h.items[0].n_pages, 3);
        expect_pages(&h.items[0], 0, 2048, 0, 1);
        expect_pages(&h.items[0], 1, 2048, 1, 1);
        expect_pages(&h.items[0], 2, 1048576, 1, 1);
        assert_null(h.items[0].command);

        assert_int_equal(h.items[1].pid, 101);
        assert_string_equal(h.items[1].name, "v\\xc3\\xa9m\\nx");
        assert_string_equal(h.items[1].command, "/opt/v\\xc3\\xa9m --flag \\x01");
        assert_string_equal(h.items[1].pod_uid, "");

        assert_int_equal(h.items[2].pid, 100);
        assert_string_equal(h.items[2].name, "many-groups");
        assert_int_equal(h.items[2].hugetlb_kb, 2048);

        assert_int_equal(h.items[3].pid, 106);
        assert_true(h.items[3].pages_known); /* by the single-size rule */
        expect_pages(&h.items[3], 0, 2048, -1, 1);

        json_t *j = holders_to_json(&h);
        assert_non_null(j);
        char *text = json_dumps(j, JSON_SORT_KEYS);
        assert_non_null(text); /* every string is valid UTF-8 */
        free(text);
        json_decref(j);
        holders_release(&h);
        sysfs_release(&fs);

        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static void test_json(void **state)
{
        struct ctx *c = *state;
        struct holders h;
        struct errbuf err;
        assert_int_equal(holders_scan(&c->procs, &c->s, NULL, &h, &err), 0);
        json_t *j = holders_to_json(&h);
        assert_non_null(j);
        char *text = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
        print_message("%s\n", text);
        free(text);
        assert_int_equal(json_integer_value(json_object_get(j, "found")), 4);
        assert_int_equal(json_integer_value(json_object_get(j, "listed")), 4);
        assert_int_equal(json_integer_value(json_object_get(j, "scanned")), 7);
        assert_int_equal(json_integer_value(json_object_get(j, "hugetlb_bytes")), 36864 * 1024);
        assert_false(json_is_true(json_object_get(j, "truncated")));
        json_t *p = json_object_get(j, "processes");
        assert_int_equal(json_array_size(p), 4);

        json_t *q = json_array_get(p, 0);
        assert_int_equal(json_integer_value(json_object_get(q, "pid")), 4242);
        assert_string_equal(json_string_value(json_object_get(q, "name")), "qemu-kvm");
        assert_int_equal(json_integer_value(json_object_get(q, "hugetlb_bytes")), 12288 * 1024);
        assert_string_equal(json_string_value(json_object_get(q, "pod_uid")), VL_UID);
        assert_string_equal(json_string_value(json_object_get(q, "container_id")), VL_CID);
        assert_string_equal(json_string_value(json_object_get(q, "container_runtime")), "containerd");
        assert_string_equal(json_string_value(json_object_get(q, "qos_class")), "burstable");
        assert_true(json_is_true(json_object_get(q, "pages_known")));
        json_t *vm = json_object_get(q, "vm");
        assert_string_equal(json_string_value(json_object_get(vm, "domain")), "default_db-1");
        assert_string_equal(json_string_value(json_object_get(vm, "namespace")), "default");
        assert_string_equal(json_string_value(json_object_get(vm, "name")), "db-1");
        json_t *pg = json_array_get(json_object_get(q, "pages"), 1);
        assert_string_equal(json_string_value(json_object_get(pg, "size")), "2Mi");
        assert_int_equal(json_integer_value(json_object_get(pg, "node")), 1);
        assert_int_equal(json_integer_value(json_object_get(pg, "pages")), 2);

        /* Unknown parts are left out rather than empty. */
        json_t *v = json_array_get(p, 1);
        assert_null(json_object_get(v, "vm"));
        assert_null(json_object_get(json_array_get(json_object_get(v, "pages"), 0), "node"));
        json_t *web = json_array_get(p, 3);
        assert_null(json_object_get(web, "container_runtime"));
        json_decref(j);
        holders_release(&h);
}

static void test_errors(void **state)
{
        (void) state;
        struct sysfs fs;
        assert_int_equal(sysfs_init(&fs, "/nonexistent", "/nonexistent/proc"), 0);
        struct holders h = { .n = 99 };
        struct errbuf err = { { 0 } };
        assert_int_equal(holders_scan(&fs, NULL, NULL, &h, &err), -ENOENT);
        assert_int_equal(h.n, 99);
        assert_non_null(strstr(err.msg, "/nonexistent/proc"));
        sysfs_release(&fs);
}

/* The real /proc: our own process is there and holds nothing. */
static void test_real_proc(void **state)
{
        (void) state;
        struct sysfs fs;
        assert_int_equal(sysfs_init(&fs, "/sys", "/proc"), 0);
        struct holders h;
        struct errbuf err;
        assert_int_equal(holders_scan(&fs, NULL, NULL, &h, &err), 0);
        assert_true(h.scanned >= 1);
        for (size_t i = 0; i < h.n; i++) {
                assert_int_not_equal(h.items[i].pid, getpid());
                assert_true(h.items[i].hugetlb_kb > 0);
                if (i > 0)
                        assert_true(h.items[i - 1].hugetlb_kb >= h.items[i].hugetlb_kb);
        }
        print_message("real /proc: %zu entries, %zu holders\n", h.scanned, h.n_found);
        holders_release(&h);
        sysfs_release(&fs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scan_fixture),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_without_details),
                cmocka_unit_test(test_two_sizes_in_use),
                cmocka_unit_test(test_cgroup_paths),
                cmocka_unit_test(test_odd_processes),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_real_proc),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
