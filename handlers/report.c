/* See report.h. Byte figures are computed from kB with saturation so that a
 * fake tree with absurd numbers cannot wrap around. */
#include "report.h"

#include <stdio.h>

#include "../model/cleanup.h"
#include "../model/quantity.h"
#include "../model/vmfit.h"
#include "response.h"

static json_int_t bytes_of_kb(uint64_t kb)
{
        uint64_t b;
        if (__builtin_mul_overflow(kb, 1024, &b) || b > (uint64_t) INT64_MAX)
                return INT64_MAX;
        return (json_int_t) b;
}

static json_int_t jint(uint64_t v)
{
        return v > (uint64_t) INT64_MAX ? INT64_MAX : (json_int_t) v;
}

static json_t *size_name(uint64_t size_kb)
{
        char q[QUANTITY_MAX];
        return json_string(quantity_format(size_kb * 1024, q));
}

static json_t *thp_report(const struct thp *t)
{
        json_t *o = json_object();
        for (int k = 0; o && k < _THP_KNOB_MAX; k++) {
                const struct thp_setting *st = &t->knobs[k];
                if (!st->present)
                        continue;
                json_t *choices = json_array();
                for (size_t i = 0; choices && i < st->n_choices; i++)
                        json_array_append_new(choices, json_string(st->choices[i]));
                json_t *knob = json_pack("{s:s, s:o}", "active", st->choices[st->active], "choices", choices);
                if (!knob || json_object_set_new(o, thp_knob_name((enum thp_knob) k), knob) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

json_t *report_sizes(const struct sizes *s, const struct thp *t, const struct validate_opts *o)
{
        _cleanup_json_ json_t *root = json_object();
        json_t *sizes = json_array(), *nodes = json_array();
        if (!root || json_object_set_new(root, "default_size", size_name(s->default_size_kb)) < 0 ||
            json_object_set_new(root, "sizes", sizes) < 0 || json_object_set_new(root, "nodes", nodes) < 0)
                return NULL;

        uint64_t huge_kb = 0;
        for (size_t i = 0; i < s->n_sizes; i++)
                huge_kb += s->sizes[i].nr * s->sizes[i].size_kb;
        json_t *mem = json_pack("{s:I, s:I, s:I, s:I}", "total_bytes", bytes_of_kb(s->mem_total_kb),
                                "available_bytes", bytes_of_kb(s->mem_available_kb), "hugepages_bytes",
                                bytes_of_kb(huge_kb), "host_reserve_bytes",
                                bytes_of_kb(validate_reserve_kb(o, s->mem_total_kb)));
        if (json_object_set_new(root, "memory", mem) < 0)
                return NULL;

        for (size_t k = 0; k < s->n_nodes; k++) {
                json_t *n = json_pack("{s:i, s:I, s:b}", "node", (int) s->nodes[k].id, "memory_bytes",
                                      bytes_of_kb(s->nodes[k].mem_total_kb), "hugepages",
                                      s->nodes[k].has_hugepages);
                if (json_array_append_new(nodes, n) < 0)
                        return NULL;
        }

        for (size_t i = 0; i < s->n_sizes; i++) {
                const struct size_info *si = &s->sizes[i];
                bool gigantic = size_is_gigantic(s, si->size_kb);
                json_t *per_node = json_array();
                json_t *j = json_pack(
                        "{s:o, s:I, s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I}, s:o}", "size",
                        size_name(si->size_kb), "bytes", bytes_of_kb(si->size_kb), "default",
                        si->size_kb == s->default_size_kb, "gigantic", gigantic, "runtime_allocation",
                        gigantic ? "best_effort" : "yes", "total", jint(si->nr), "free", jint(si->free), "reserved",
                        jint(si->resv), "surplus", jint(si->surplus), "persistent", jint(size_persistent(si)),
                        "overcommit", jint(si->overcommit), "limits", "max_pages",
                        jint(validate_max_pages(o, s->mem_total_kb, si->size_kb)), "nodes", per_node);
                if (!j || json_array_append_new(sizes, j) < 0 ||
                    json_object_set_new(j, "vm_capacity", vmfit_capacity_to_json(s, si, -1)) < 0)
                        return NULL;
                for (size_t k = 0; k < s->n_nodes; k++) {
                        if (!s->nodes[k].has_hugepages)
                                continue;
                        const struct size_node *sn = &si->nodes[k];
                        json_t *n = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}", "node", (int) s->nodes[k].id, "total",
                                              jint(sn->nr), "free", jint(sn->free), "surplus", jint(sn->surplus),
                                              "persistent", jint(size_node_persistent(sn)), "max_pages",
                                              jint(s->nodes[k].mem_total_kb / si->size_kb));
                        if (!n || json_array_append_new(per_node, n) < 0 ||
                            json_object_set_new(n, "vm_capacity", vmfit_capacity_to_json(s, si, (int) k)) < 0)
                                return NULL;
                }
        }

        if (json_object_set_new(root, "transparent_hugepage", thp_report(t)) < 0)
                return NULL;
        return TAKE_PTR(root);
}

json_t *report_validation(const struct validation *v)
{
        _cleanup_json_ json_t *root = json_pack(
                "{s:b, s:o, s:o, s:o}", "valid", validation_ok(v), "errors", findings_to_json(&v->errors),
                "warnings", findings_to_json(&v->warnings), "reboot_required", findings_to_json(&v->reboot_required));
        if (!root)
                return NULL;
        uint64_t left = v->total_kb > v->hugepages_kb ? v->total_kb - v->hugepages_kb : 0;
        json_t *nodes = json_array();
        json_t *mem = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "total_bytes", bytes_of_kb(v->total_kb),
                                "hugepages_bytes", bytes_of_kb(v->hugepages_kb), "current_hugepages_bytes",
                                bytes_of_kb(v->current_hugepages_kb), "host_reserve_bytes",
                                bytes_of_kb(v->reserve_kb), "left_for_host_bytes", bytes_of_kb(left), "nodes", nodes);
        if (!mem || json_object_set_new(root, "memory", mem) < 0)
                return NULL;
        for (size_t k = 0; k < v->n_nodes; k++) {
                const struct node_memory *nm = &v->nodes[k];
                uint64_t nleft = nm->total_kb > nm->hugepages_kb ? nm->total_kb - nm->hugepages_kb : 0;
                json_t *n = json_pack("{s:i, s:I, s:I, s:I}", "node", (int) nm->node, "total_bytes",
                                      bytes_of_kb(nm->total_kb), "hugepages_bytes", bytes_of_kb(nm->hugepages_kb),
                                      "left_bytes", bytes_of_kb(nleft));
                if (!n || json_array_append_new(nodes, n) < 0)
                        return NULL;
        }
        return TAKE_PTR(root);
}
