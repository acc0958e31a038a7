// Checks what `kubectl apply -k deploy/` applies, and the examples beside it.
//
// 1. Renders deploy/kustomization.yaml the way kustomize does for the few
//    fields it uses (resources, namespace, labels without selectors); a
//    field this renderer does not know fails the test rather than being
//    ignored.
// 2. Validates every document against the Kubernetes OpenAPI schemas
//    (kubernetes-models: one class per kind, validated with ajv), and
//    rejects fields the schema does not know, as `kubectl apply
//    --validate=strict` does (kubernetes-models' schemas allow unknown
//    fields, so their type declarations are read for the field names).
// 3. Checks what the service needs: every deploy/*.yaml listed; the probes
//    on /readyz and /healthz over HTTPS on the port hugepaged listens on;
//    each hostPath on the allow-list below, mounted where --sysfs-root and
//    --state-dir make hugepaged look, read-only where it only reads; the
//    Secrets where --tls-cert, --tls-key and --token-file point; no
//    --anonymous-read (reads need a token, X-Hugepaged-Token through the
//    API server's proxy) and no --plain-http; the container hardening; the Service and the NetworkPolicy select the
//    DaemonSet's pods; control-plane tolerations; an image tagged with the
//    project's version, never :latest; deploy/rbac/ valid too, with the
//    proxy verbs hugepaged's methods map to (GET get, POST create, PUT
//    update on pods/proxy; get only on services/proxy); and
//    deploy/examples/ still passes its own checker.
//
// Usage: node check-manifests.mjs [--render] [REPO]   (npm ci in this directory first)
// Prints "ok - …" / "not ok - …" per check and "N passed, M failed"; exits 1
// when a check fails.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
// --render: print what kubectl apply -k deploy/ would apply (JSON) and stop.
const renderOnly = process.argv.includes("--render");
if (renderOnly) console.log = (...a) => console.error(...a);
const repo = resolve(process.argv.slice(2).find((a) => !a.startsWith("--")) ?? join(here, "../.."));
const deploy = join(repo, "deploy");
const modelsDir = join(here, "node_modules/kubernetes-models");
const machineryDir = join(here, "node_modules/@kubernetes-models/apimachinery");

let passed = 0;
let failed = 0;
function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}
function notok(name, why) {
  failed++;
  console.log(`not ok - ${name}`);
  for (const line of [].concat(why)) console.log(`#   ${line}`);
}
// check(name, problems): ok when problems is empty.
function check(name, problems) {
  if (problems.length === 0) ok(name);
  else notok(name, problems);
}
const show = (v) => JSON.stringify(v);

// --- the schemas ------------------------------------------------------------

// The classes, by apiVersion and kind, for the kinds deploy/ may hold.
const groups = {
  v1: "v1",
  "apps/v1": "apps/v1",
  "networking.k8s.io/v1": "networking.k8s.io/v1",
  "rbac.authorization.k8s.io/v1": "rbac.authorization.k8s.io/v1",
  "policy/v1": "policy/v1",
  "scheduling.k8s.io/v1": "scheduling.k8s.io/v1",
};
async function modelClass(apiVersion, kind) {
  const dir = groups[apiVersion];
  if (!dir || !/^[A-Za-z]+$/.test(kind ?? "")) return null;
  const file = join(modelsDir, dir, `${kind}.js`);
  if (!existsSync(file)) return null;
  const mod = await import(file);
  return mod[kind] ?? null;
}

// The field names per type, read from the models' declarations:
// "export interface IX { "field"?: TYPE; … }" and
// "export type { IX as IIoK8s…Name, … }".
function readDeclarations() {
  const types = {};
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "node_modules" && e.name !== "_schemas") walk(p);
      } else if (e.name.endsWith(".d.ts")) {
        // Without the comments, and without the blank lines they leave.
        const text = readFileSync(p, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^[ \t]*\n/gm, "");
        const alias = text.match(/export type \{ (\w+) as (IIoK8s\w+)/);
        if (!alias) continue;
        const body = text.match(new RegExp(`export interface ${alias[1]}(?: extends [\\w, ]+)? \\{\\n([\\s\\S]*?)^\\}`, "m"));
        if (!body) continue;
        const fields = {};
        // Fields sit at four spaces; a map's type spans lines up to "};".
        const re = /^ {4}"([^"]+)"\??: ([\s\S]*?);\n(?= {4}"|$)/gm;
        for (const f of body[1].matchAll(re)) fields[f[1]] = f[2].replace(/\s+/g, " ").trim();
        // The TypeMeta fields every top-level kind has.
        if (/extends TypeMeta/.test(body[0])) fields.apiVersion = fields.apiVersion ?? "string", fields.kind = fields.kind ?? "string";
        types[alias[2]] = fields;
      }
    }
  };
  walk(modelsDir);
  walk(machineryDir);
  return types;
}
const types = readDeclarations();

// Appends to problems every field of value that TYPE does not declare.
function unknownFields(value, type, path, problems) {
  let m;
  if ((m = type.match(/^Array<(IIoK8s\w+)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], `${path}/${i}`, problems));
    return;
  }
  if ((m = type.match(/^\{ \[key: string\]: (IIoK8s\w+); \}$/))) {
    if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], `${path}/${k}`, problems);
    return;
  }
  const fields = types[type];
  if (!fields || !value || typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (!(k in fields)) problems.push(`${path}/${k}: not a field of ${type.replace(/^IIoK8s(Api|Apimachinery)/, "")}`);
    else unknownFields(v, fields[k], `${path}/${k}`, problems);
  }
}

// All problems the schemas find in one document.
async function schemaProblems(doc) {
  const cls = await modelClass(doc?.apiVersion, doc?.kind);
  if (!cls) return [`no schema for apiVersion ${show(doc?.apiVersion)} kind ${show(doc?.kind)}`];
  const problems = [];
  try {
    new cls(doc).validate();
  } catch (e) {
    problems.push(...String(e.message).split(/, (?=data)/));
  }
  const group = doc.apiVersion.includes("/") ? doc.apiVersion.split("/")[0] : "core";
  const typeName = Object.keys(types).find(
    (t) => t.endsWith(`V1${doc.kind}`) && types[t].kind && types[t].kind.includes(`"${doc.kind}"`) &&
      types[t].apiVersion.includes(`"${doc.apiVersion}"`),
  );
  if (!typeName) problems.push(`no field list for ${doc.apiVersion} ${doc.kind} (group ${group})`);
  else unknownFields(doc, typeName, "", problems);
  return problems;
}

// --- rendering the kustomization ---------------------------------------------

function loadYaml(file) {
  const docs = [];
  // YAML 1.1, as kubectl and kustomize read it (0400 is octal there).
  for (const d of parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" })) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map(String).join("; ")}`);
    const v = d.toJS({ maxAliasCount: 0 });
    if (v !== null) docs.push(v);
  }
  return docs;
}

const kustFile = join(deploy, "kustomization.yaml");
const kust = loadYaml(kustFile)[0] ?? {};
const knownKeys = ["apiVersion", "kind", "namespace", "labels", "resources"];
check("deploy/kustomization.yaml uses only fields this renderer applies (" + knownKeys.join(", ") + ")", [
  ...Object.keys(kust).filter((k) => !knownKeys.includes(k)).map((k) => `${k}: not rendered here; extend check-manifests.mjs first`),
  ...(kust.apiVersion === "kustomize.config.k8s.io/v1beta1" && kust.kind === "Kustomization" ? [] : [`apiVersion/kind: ${show(kust.apiVersion)} ${show(kust.kind)}`]),
  ...(kust.labels ?? []).filter((l) => l.includeSelectors || l.includeTemplates || l.fields).map((l) => `labels: ${show(l)} also changes selectors or templates, which this renderer does not do`),
]);
check("deploy/kustomization.yaml sets the namespace harvester-system", kust.namespace === "harvester-system" ? [] : [`namespace: ${show(kust.namespace)}`]);

const listed = kust.resources ?? [];
const onDisk = readdirSync(deploy).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
check("every deploy/*.yaml is a resource of the kustomization, and every resource is a file there", [
  ...onDisk.filter((f) => !listed.includes(f)).map((f) => `deploy/${f}: not in resources`),
  ...listed.filter((f) => !onDisk.includes(f)).map((f) => `resources: ${f}: no such file in deploy/ (directories and URLs are not rendered here)`),
]);

const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"]);
const rendered = [];
for (const f of listed.filter((f) => onDisk.includes(f))) {
  let docs;
  try {
    docs = loadYaml(join(deploy, f));
  } catch (e) {
    notok(`deploy/${f} is YAML without anchors or aliases (kustomize's kyaml)`, e.message);
    continue;
  }
  docs.forEach((doc, i) => {
    const out = structuredClone(doc);
    out.metadata ??= {};
    if (kust.namespace && !clusterScoped.has(out.kind)) out.metadata.namespace = kust.namespace;
    for (const l of kust.labels ?? []) out.metadata.labels = { ...(out.metadata.labels ?? {}), ...(l.pairs ?? {}) };
    rendered.push({ where: `deploy/${f}#${i}`, doc: out, source: doc });
  });
}

// The renderer above against kustomize itself, where kubectl is installed.
{
  const canon = (o) => Array.isArray(o) ? o.map(canon)
    : o && typeof o === "object" ? Object.fromEntries(Object.keys(o).sort().map((k) => [k, canon(o[k])])) : o;
  let text = null;
  try {
    text = execFileSync("kubectl", ["kustomize", deploy], { encoding: "utf8", timeout: 60000, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    if (e.code === "ENOENT") console.log("skip - the rendering equals `kubectl kustomize deploy/`: no kubectl here");
    else notok("`kubectl kustomize deploy/` renders", String(e.stderr || e.message).trim().split("\n"));
  }
  if (text !== null) {
    const theirs = parseAllDocuments(text, { version: "1.1" }).map((d) => d.toJS()).filter(Boolean);
    const key = (d) => `${d.kind}/${d.metadata?.namespace}/${d.metadata?.name}`;
    const mine = new Map(rendered.map(({ doc }) => [key(doc), JSON.stringify(canon(doc))]));
    const kz = new Map(theirs.map((d) => [key(d), JSON.stringify(canon(d))]));
    check("the rendering equals `kubectl kustomize deploy/` object for object", [...new Set([...mine.keys(), ...kz.keys()])].flatMap((k) =>
      !mine.has(k) ? [`${k}: only in kustomize's output`] : !kz.has(k) ? [`${k}: only in this renderer's`]
        : mine.get(k) === kz.get(k) ? [] : [`${k}: differs`]));
  }
}

if (renderOnly) {
  process.stdout.write(JSON.stringify(rendered.map(({ doc }) => doc), null, 2) + "\n");
  process.exit(failed ? 1 : 0);
}

for (const { where, doc } of rendered) {
  check(`${where} (${doc.kind} ${doc.metadata?.name}) is valid against the Kubernetes schemas, no unknown field`, await schemaProblems(doc));
}
{
  const seen = {};
  for (const { where, doc } of rendered) (seen[`${doc.kind}/${doc.metadata.namespace}/${doc.metadata.name}`] ??= []).push(where);
  check("no two rendered objects share kind, namespace and name", Object.entries(seen).filter(([, w]) => w.length > 1).map(([k, w]) => `${k}: ${w.join(", ")}`));
  check("the rendered set holds no Secret (nothing secret is committed) and no Namespace (harvester-system is Harvester's)",
    rendered.filter(({ doc }) => doc.kind === "Secret" || doc.kind === "Namespace").map(({ where, doc }) => `${where}: ${doc.kind}`));
}

// --- the DaemonSet ------------------------------------------------------------

const byKind = (kind) => rendered.filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc);
const [ds, ...moreDs] = byKind("DaemonSet");
if (!ds || moreDs.length) {
  notok("exactly one DaemonSet", `found ${byKind("DaemonSet").length}`);
} else {
  const pod = ds.spec.template.spec;
  const podLabels = ds.spec.template.metadata?.labels ?? {};
  const matches = (selector, labels) =>
    selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
  check("the DaemonSet's selector matches its pod template's labels (matchLabels only)", [
    ...(matches(ds.spec.selector?.matchLabels, podLabels) ? [] : [`selector ${show(ds.spec.selector)} vs labels ${show(podLabels)}`]),
    ...(ds.spec.selector?.matchExpressions ? ["matchExpressions: not checked here"] : []),
  ]);
  const main = pod.containers.find((c) => c.name === "hugepaged") ?? pod.containers[0];
  const all = [...(pod.initContainers ?? []), ...pod.containers];
  const args = main.args ?? [];
  const flag = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  check("the container runs `hugepaged serve` (its args start with serve)", args[0] === "serve" ? [] : [`args: ${show(args)}`]);

  // The port: --listen, the container port, the probes, the Service.
  const listen = flag("--listen") ?? "127.0.0.1:8443";
  const listenPort = Number(listen.slice(listen.lastIndexOf(":") + 1));
  const listenHost = listen.slice(0, listen.lastIndexOf(":"));
  const ports = main.ports ?? [];
  const portOf = (p) => (typeof p === "number" ? p : ports.find((q) => q.name === p)?.containerPort);
  check(`hugepaged listens on every pod address (--listen ${listen}), on its declared container port`, [
    ...(["0.0.0.0", "[::]"].includes(listenHost) ? [] : [`--listen ${listen}: kubelet and the API server connect to the pod address, not loopback`]),
    ...(ports.some((p) => p.containerPort === listenPort && (p.protocol ?? "TCP") === "TCP") ? [] : [`no TCP containerPort ${listenPort} in ${show(ports)}`]),
  ]);
  for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]]) {
    const pr = main[probe];
    const g = pr?.httpGet;
    check(`${probe} is GET ${path} over HTTPS on port ${listenPort}`, [
      ...(g ? [] : [`${probe}: ${show(pr)}: not an httpGet probe`]),
      ...(g && g.path !== path ? [`path ${show(g.path)}`] : []),
      ...(g && g.scheme !== "HTTPS" ? [`scheme ${show(g.scheme)} (hugepaged serves HTTPS only)`] : []),
      ...(g && portOf(g.port) !== listenPort ? [`port ${show(g.port)} is not ${listenPort}`] : []),
      ...(g?.httpHeaders ? ["no headers: these paths need no token, and a probe must not carry one"] : []),
    ]);
  }

  // Host access: every hostPath on the allow-list, each mount as it says.
  // mode rw: hugepaged writes there; ro: it only reads.
  const sysfsRoot = flag("--sysfs-root") ?? "/sys";
  const stateDir = flag("--state-dir") ?? "/var/lib/hugepaged";
  const allow = {
    // nr_hugepages and nr_overcommit_hugepages of every size (model/sizes.c, apply.c)
    "/sys/kernel/mm/hugepages": { mode: "rw", at: posix.join(sysfsRoot, "kernel/mm/hugepages") },
    // enabled and defrag (model/thp.c); hpage_pmd_size (model/probe.c)
    "/sys/kernel/mm/transparent_hugepage": { mode: "rw", at: posix.join(sysfsRoot, "kernel/mm/transparent_hugepage") },
    // nodeN/hugepages/*/nr_hugepages and nodeN/meminfo (model/sizes.c)
    "/sys/devices/system/node": { mode: "rw", at: posix.join(sysfsRoot, "devices/system/node") },
    // the probe: cpuN/nodeK and the cache line size (model/probe.c); read only
    "/sys/devices/system/cpu": { mode: "ro", at: posix.join(sysfsRoot, "devices/system/cpu") },
    // the journal, persistent on Harvester (KERNEL.md section 6)
    "/usr/local/hugepaged": { mode: "rw", at: stateDir },
  };
  const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  const hostVolumes = (pod.volumes ?? []).filter((v) => v.hostPath);
  check("every hostPath volume is on the allow-list (" + Object.keys(allow).join(", ") + ")",
    hostVolumes.filter((v) => !allow[v.hostPath.path]).map((v) => `volume ${v.name}: hostPath ${v.hostPath.path}`));
  check("every allow-listed host path is there, with a type that refuses a missing sysfs directory",
    Object.keys(allow).flatMap((p) => {
      const v = hostVolumes.find((h) => h.hostPath.path === p);
      if (!v) return [`${p}: no hostPath volume`];
      const want = p.startsWith("/sys/") ? "Directory" : "DirectoryOrCreate";
      return v.hostPath.type === want ? [] : [`${p}: type ${show(v.hostPath.type)}, expected ${want}`];
    }));
  for (const c of all) {
    const problems = [];
    for (const m of c.volumeMounts ?? []) {
      const v = volumes[m.name];
      if (!v) problems.push(`mount ${m.name}: no such volume`);
      else if (v.hostPath) {
        const a = allow[v.hostPath.path];
        if (!a) continue;
        if (m.mountPath !== a.at) problems.push(`${v.hostPath.path} mounted at ${m.mountPath}, hugepaged looks at ${a.at}`);
        if ((a.mode === "ro") !== (m.readOnly === true)) problems.push(`${v.hostPath.path}: readOnly ${show(m.readOnly)}, should be ${a.mode === "ro"}`);
        if (m.mountPropagation && m.mountPropagation !== "None") problems.push(`${m.mountPath}: mountPropagation ${m.mountPropagation}`);
        if (m.subPath || m.subPathExpr) problems.push(`${m.mountPath}: subPath`);
      } else if (v.secret && m.readOnly !== true) problems.push(`${m.mountPath}: a Secret mounted writable`);
    }
    // The init container needs the host paths too, and the same ones.
    const hostMounts = (c.volumeMounts ?? []).filter((m) => volumes[m.name]?.hostPath).map((m) => m.name).sort();
    const wanted = hostVolumes.map((v) => v.name).sort();
    if (show(hostMounts) !== show(wanted)) problems.push(`mounts host volumes ${show(hostMounts)}, expected all of ${show(wanted)}`);
    if (c.volumeDevices) problems.push("volumeDevices");
    check(`container ${c.name}: each host path mounted where hugepaged looks (--sysfs-root ${sysfsRoot}, --state-dir ${stateDir}), read-only where it only reads`, problems);
  }
  check("no other host access: hostNetwork, hostIPC off, no host ports; hostPID on (documented: kubelet.stale and the holders)", [
    ...(pod.hostNetwork ? ["hostNetwork: true"] : []),
    ...(pod.hostIPC ? ["hostIPC: true"] : []),
    ...(pod.hostPID === true ? [] : ["hostPID: not true, but --procfs-root /proc is meant to be the host's"]),
    ...all.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => `${c.name}: hostPort ${p.hostPort}`)),
    ...(flag("--procfs-root") === "/proc" ? [] : [`--procfs-root ${show(flag("--procfs-root"))}: with hostPID the container's /proc is the host's`]),
  ]);

  // The Secrets: where the flags point.
  const mountOf = (file) => {
    const m = (main.volumeMounts ?? []).find((vm) => file && file.startsWith(vm.mountPath + "/"));
    return m && { mount: m, volume: volumes[m.name], key: file.slice(m.mountPath.length + 1) };
  };
  const secretProblems = [];
  for (const [opt, key] of [["--tls-cert", "tls.crt"], ["--tls-key", "tls.key"], ["--token-file", "tokens"]]) {
    const file = flag(opt);
    const at = mountOf(file);
    if (!file) secretProblems.push(`${opt}: not given (hugepaged would make its own in the state directory)`);
    else if (!at?.volume?.secret) secretProblems.push(`${opt} ${file}: not in a Secret volume`);
    else {
      if (at.key !== key) secretProblems.push(`${opt} ${file}: key ${show(at.key)}, expected ${key}`);
      const mode = at.volume.secret.defaultMode ?? 0o644;
      if (mode & 0o077) secretProblems.push(`${opt}: Secret ${at.volume.secret.secretName} mode 0${mode.toString(8)}: others (or the group) may read it`);
      if (at.volume.secret.optional) secretProblems.push(`${opt}: Secret ${at.volume.secret.secretName} optional: the pod would start without it`);
    }
  }
  check("--tls-cert, --tls-key (Secret hugepaged-tls) and --token-file (Secret hugepaged-tokens) point into Secret volumes, mode 0400, not optional", secretProblems);
  // Reads need a token too: through the API server's proxy it travels as
  // X-Hugepaged-Token (docs/kubernetes.md, "Why reads need a token too").
  check("the service serves nothing but the probes and the spec without a token: no --anonymous-read, no --plain-http", [
    ...args.filter((a) => a === "--anonymous-read" || a.startsWith("--plain-http")).map((a) => `args: ${a}`),
  ]);

  // Hardening.
  const podSec = pod.securityContext ?? {};
  for (const c of all) {
    const s = c.securityContext ?? {};
    const seccomp = s.seccompProfile?.type ?? podSec.seccompProfile?.type;
    check(`container ${c.name}: no privilege, no escalation, no capability, read-only root, seccomp RuntimeDefault`, [
      ...(s.privileged ? ["privileged: true"] : []),
      ...(s.allowPrivilegeEscalation === false ? [] : [`allowPrivilegeEscalation: ${show(s.allowPrivilegeEscalation)}`]),
      ...(s.readOnlyRootFilesystem === true ? [] : [`readOnlyRootFilesystem: ${show(s.readOnlyRootFilesystem)}`]),
      ...((s.capabilities?.drop ?? []).includes("ALL") ? [] : [`capabilities.drop: ${show(s.capabilities?.drop)}`]),
      ...((s.capabilities?.add ?? []).length ? [`capabilities.add: ${show(s.capabilities.add)}`] : []),
      ...(seccomp === "RuntimeDefault" ? [] : [`seccompProfile: ${show(seccomp)}`]),
      ...(s.procMount && s.procMount !== "Default" ? [`procMount: ${s.procMount}`] : []),
    ]);
  }
  check("the pod mounts no service-account token (hugepaged calls no Kubernetes API)", pod.automountServiceAccountToken === false ? [] : [`automountServiceAccountToken: ${show(pod.automountServiceAccountToken)}`]);

  // Scheduling.
  const tol = pod.tolerations ?? [];
  const tolerates = (key, effect) => tol.some((t) => (t.key === key || (!t.key && t.operator === "Exists")) && (t.operator === "Exists") && (!t.effect || t.effect === effect));
  check("it tolerates the control-plane taints (node-role.kubernetes.io/control-plane and the older .../master, NoSchedule)", [
    ...(tolerates("node-role.kubernetes.io/control-plane", "NoSchedule") ? [] : ["node-role.kubernetes.io/control-plane:NoSchedule"]),
    ...(tolerates("node-role.kubernetes.io/master", "NoSchedule") ? [] : ["node-role.kubernetes.io/master:NoSchedule"]),
  ]);

  // Images.
  const version = readFileSync(join(repo, "CMakeLists.txt"), "utf8").match(/project\(hugepaged VERSION ([0-9.]+)/)?.[1];
  const containerfile = readFileSync(join(deploy, "Containerfile"), "utf8");
  check(`every image is tagged with the project version ${version} (CMakeLists.txt), never :latest, and the Containerfile's example tag agrees`, [
    ...all.flatMap((c) => {
      const img = c.image ?? "";
      const tag = img.includes("@") ? null : img.slice(img.lastIndexOf("/") + 1).split(":")[1];
      if (img.includes("@sha256:")) return [];
      if (!tag) return [`${c.name}: ${img}: no tag (means :latest)`];
      if (tag === "latest") return [`${c.name}: ${img}: :latest`];
      return tag === version ? [] : [`${c.name}: ${img}: tag ${tag}, project version ${version}`];
    }),
    ...(new Set(all.map((c) => c.image)).size === 1 ? [] : [`the containers use different images: ${show(all.map((c) => c.image))}`]),
    ...(containerfile.includes(`-t ${all[0]?.image} `) ? [] : [`deploy/Containerfile's build line does not tag ${all[0]?.image}`]),
  ]);

  // Resources: a memory request and limit on every container; no CPU
  // limit (the probe's timings), as the DaemonSet's comment explains.
  const qty = (q) => {
    const m = String(q ?? "").match(/^([0-9.]+)(Ki|Mi|Gi|k|M|G)?$/);
    if (!m) return NaN;
    return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2]] ?? 1);
  };
  check("every container requests CPU and memory and has a memory limit at least its request, and no CPU limit", all.flatMap((c) => {
    const r = c.resources ?? {};
    const p = [];
    if (!r.requests?.cpu) p.push(`${c.name}: no CPU request`);
    if (!(qty(r.requests?.memory) > 0)) p.push(`${c.name}: memory request ${show(r.requests?.memory)}`);
    if (!(qty(r.limits?.memory) >= qty(r.requests?.memory))) p.push(`${c.name}: memory limit ${show(r.limits?.memory)}`);
    if (r.limits?.cpu) p.push(`${c.name}: a CPU limit (${r.limits.cpu}) would throttle the probe's timed rounds`);
    return p;
  }));

  // The Service and the NetworkPolicy select the pods.
  const [svc] = byKind("Service");
  check("the Service selects the DaemonSet's pods, in the same namespace, and targets port " + listenPort, !svc ? ["no Service"] : [
    ...(matches(svc.spec.selector, podLabels) ? [] : [`selector ${show(svc.spec.selector)} vs pod labels ${show(podLabels)}`]),
    ...(svc.metadata.namespace === ds.metadata.namespace ? [] : [`namespace ${svc.metadata.namespace}`]),
    ...(svc.spec.ports ?? []).filter((p) => portOf(p.targetPort ?? p.port) !== listenPort).map((p) => `port ${show(p)} does not reach ${listenPort}`),
  ]);
  const [np, ...moreNp] = byKind("NetworkPolicy");
  const npProblems = [];
  if (!np || moreNp.length) npProblems.push(`${byKind("NetworkPolicy").length} NetworkPolicies`);
  else {
    const s = np.spec;
    if (!matches(s.podSelector?.matchLabels, podLabels) || s.podSelector?.matchExpressions) npProblems.push(`podSelector ${show(s.podSelector)} vs pod labels ${show(podLabels)}`);
    if (np.metadata.namespace !== ds.metadata.namespace) npProblems.push(`namespace ${np.metadata.namespace}`);
    if (!(s.policyTypes ?? []).includes("Ingress") || !(s.policyTypes ?? []).includes("Egress")) npProblems.push(`policyTypes ${show(s.policyTypes)}: both Ingress and Egress, so that egress: [] denies all`);
    if ((s.egress ?? []).length) npProblems.push(`egress ${show(s.egress)}: hugepaged opens no connection`);
    for (const [i, rule] of (s.ingress ?? []).entries()) {
      if (!rule.from?.length) npProblems.push(`ingress/${i}: no "from": anyone may connect`);
      if (!rule.ports?.length) npProblems.push(`ingress/${i}: no "ports": every port`);
      for (const p of rule.ports ?? []) if (portOf(p.port) !== listenPort || (p.protocol ?? "TCP") !== "TCP" || p.endPort) npProblems.push(`ingress/${i}: port ${show(p)}`);
      for (const f of rule.from ?? []) {
        if (!f.ipBlock) npProblems.push(`ingress/${i}: peer ${show(f)}: only ipBlocks (the control-plane nodes)`);
        else if (!/\/32$|\/128$/.test(f.ipBlock.cidr)) npProblems.push(`ingress/${i}: ${f.ipBlock.cidr}: one /32 (or /128) per control-plane address`);
      }
    }
  }
  check("the NetworkPolicy selects the DaemonSet's pods, admits TCP " + listenPort + " from single addresses only, and denies all egress", npProblems);
  const [sa] = byKind("ServiceAccount");
  check("the pod runs as the ServiceAccount of deploy/, which mounts no token either", [
    ...(sa && pod.serviceAccountName === sa.metadata.name ? [] : [`serviceAccountName ${show(pod.serviceAccountName)}, ServiceAccount ${show(sa?.metadata?.name)}`]),
    ...(sa?.automountServiceAccountToken === false ? [] : ["ServiceAccount automountServiceAccountToken is not false"]),
  ]);
}

// --- deploy/rbac/ (applied separately) -------------------------------------------

const rbacDir = join(deploy, "rbac");
const rbacFiles = existsSync(rbacDir) ? readdirSync(rbacDir).filter((f) => f.endsWith(".yaml")) : [];
check("deploy/rbac/ holds the example Role and RoleBinding", rbacFiles.length ? [] : ["no deploy/rbac/*.yaml"]);
for (const f of rbacFiles) {
  const docs = loadYaml(join(rbacDir, f));
  for (const [i, doc] of docs.entries()) check(`deploy/rbac/${f}#${i} (${doc.kind} ${doc.metadata?.name}) is valid against the Kubernetes schemas, no unknown field`, await schemaProblems(doc));
  const role = docs.find((d) => d.kind === "Role");
  const binding = docs.find((d) => d.kind === "RoleBinding");
  const grants = (res, verb) => (role?.rules ?? []).some((r) => (r.apiGroups ?? []).includes("") && r.resources.includes(res) && r.verbs.includes(verb));
  const verbsOn = (res) => [...new Set((role?.rules ?? []).filter((r) => r.resources.includes(res)).flatMap((r) => r.verbs))].sort();
  // The API server takes the verb of a proxied request from its method:
  // GET get, POST create, PUT update. hugepaged answers GET, POST and PUT
  // only, and a change through the Service would land on a node picked at
  // random, so services/proxy is get only.
  const exactly = (res, want) => show(verbsOn(res)) === show([...want].sort()) ? [] : [`${res}: verbs ${show(verbsOn(res))}, expected ${show([...want].sort())}`];
  check(`deploy/rbac/${f}: the Role grants pods/proxy get+create+update (GET, POST, PUT), services/proxy get only, pods/portforward get+create, in harvester-system, and the RoleBinding binds it`, [
    ...(grants("pods/proxy", "get") && grants("pods/proxy", "create") && grants("pods/proxy", "update") ? [] : ["pods/proxy get, create and update"]),
    ...exactly("pods/proxy", ["get", "create", "update"]),
    ...exactly("services/proxy", ["get"]),
    ...exactly("pods/portforward", ["get", "create"]),
    ...(role?.metadata?.namespace === "harvester-system" ? [] : [`Role namespace ${show(role?.metadata?.namespace)}`]),
    ...(binding?.roleRef?.name === role?.metadata?.name && binding?.roleRef?.kind === "Role" && binding?.metadata?.namespace === role?.metadata?.namespace ? [] : [`RoleBinding roleRef ${show(binding?.roleRef)}`]),
    ...((role?.rules ?? []).some((r) => r.verbs.includes("*") || r.resources.includes("*")) ? ["a wildcard"] : []),
  ]);
}

// --- deploy/examples/ still passes its own checker -------------------------------

const exDir = join(deploy, "examples");
const exChecker = join(exDir, "check-manifest.mjs");
const exFiles = existsSync(exDir) ? readdirSync(exDir).filter((f) => f.endsWith(".yaml")) : [];
if (!existsSync(join(exDir, "node_modules"))) {
  notok("deploy/examples/ passes its checker", `no ${relative(repo, join(exDir, "node_modules"))}: run npm ci in deploy/examples (scripts/deps.sh does)`);
} else {
  try {
    const out = execFileSync(process.execPath, [exChecker, ...exFiles.map((f) => join(exDir, f))], { encoding: "utf8", timeout: 60000 });
    const oks = out.split("\n").filter((l) => l.startsWith("ok - ")).length;
    check(`deploy/examples/ passes its checker (${exFiles.join(", ")}: ${oks} manifest${oks === 1 ? "" : "s"})`, oks >= exFiles.length && oks > 0 ? [] : [out.trim()]);
  } catch (e) {
    notok("deploy/examples/ passes its checker", String(e.stdout || e.message).trim().split("\n"));
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
