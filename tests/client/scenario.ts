// The generated-client scenario (ctest client/scenario): the real binary on
// a copy of the fake tree x86-2node, driven only through a TypeScript
// client generated from openapi/openapi.json (openapi-typescript's types,
// openapi-fetch's calls). Every step checks the typed answer's fields.
//
// Usage: node out/scenario.js HUGEPAGED FAKE_TREE STATE_DIR RECORD_DIR REPO
//   (run-scenario.sh prepares all five; FAKE_TREE is a writable copy)
//
// TLS is verified: the client trusts only the certificate the service made
// in STATE_DIR/tls.crt (its subjectAltName holds IP:127.0.0.1, the address
// called). Every exchange is also recorded in RECORD_DIR in the contract
// checker's format and checked against the document at the end by
// tests/contract/validate.mjs.
//
// Prints "ok - …"/"not ok - …" lines and "N passed, M failed" (counting
// HP_CLIENT_PRIOR_PASSED checks run before it by the driver); exits 1 on
// any failure.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";

import createClient, { type Middleware } from "openapi-fetch";
import { Agent, fetch as undiciFetch, Request as UndiciRequest } from "undici";

import type { components, paths } from "./generated/hugepaged.js";

type Schemas = components["schemas"];

const [binary, tree, stateDir, recordDir, repo] = process.argv.slice(2);
if (!binary || !tree || !stateDir || !recordDir || !repo) {
  console.error("usage: scenario.js HUGEPAGED FAKE_TREE STATE_DIR RECORD_DIR REPO");
  process.exit(2);
}

// --- checks ------------------------------------------------------------------

let passed = Number(process.env.HP_CLIENT_PRIOR_PASSED ?? "0");
let failed = 0;

const show = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
};

function ok(name: string): void {
  passed++;
  console.log(`ok - ${name}`);
}

function notOk(name: string, why: string): void {
  failed++;
  console.log(`not ok - ${name} (${why})`);
}

/** Deep equality, both values printed on failure. */
function check(name: string, expected: unknown, actual: unknown): void {
  if (isDeepStrictEqual(expected, actual)) ok(name);
  else notOk(name, `expected: ${show(expected)}; actual: ${show(actual)}`);
}

function checkTrue(name: string, condition: boolean, detail: unknown): void {
  if (condition) ok(name);
  else notOk(name, `actual: ${show(detail)}`);
}

/** A step that cannot go on (no data to check): counted, then thrown. */
class Bail extends Error {}

/** The answer of a call that must succeed: its data, or a failure and Bail. */
function expectData<T>(name: string, answer: { data?: T | undefined; error?: unknown; response: Response }): T {
  if (answer.data === undefined) {
    notOk(name, `status ${answer.response.status}: ${show(answer.error)}`);
    throw new Bail(name);
  }
  ok(`${name}: ${answer.response.status}`);
  return answer.data;
}

/** The problem of a call that must fail with STATUS and problem TYPE. */
function expectProblem(
  name: string,
  status: number,
  type: string,
  answer: { error?: { type: string; status: number } | undefined; response: Response },
): void {
  const error = answer.error;
  check(`${name}: status`, status, answer.response.status);
  check(`${name}: content type`, "application/problem+json", answer.response.headers.get("content-type"));
  check(`${name}: problem type`, `urn:hugepaged:problem:${type}`, error?.type);
  check(`${name}: the problem repeats the status`, status, error?.status);
}

// --- the service -----------------------------------------------------------------

const MI2 = 2097152;
const GI1 = 1073741824;
const H2M = join(tree, "sys/kernel/mm/hugepages/hugepages-2048kB");
const readTree = (file: string): number => Number(readFileSync(join(H2M, file), "utf8").trim());

let server: ChildProcess | undefined;
let serverLog = "";

function startServer(): Promise<number> {
  const child = spawn(
    binary!,
    [
      "serve",
      "--listen", "127.0.0.1:0",
      "--state-dir", stateDir!,
      "--sysfs-root", join(tree!, "sys"),
      "--procfs-root", join(tree!, "proc"),
      "--node-name", "client-scenario",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  server = child;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" line within 15 s: ${serverLog}`)), 15000);
    const onData = (chunk: Buffer): void => {
      serverLog += chunk.toString();
      const m = /listening on https:\/\/127\.0\.0\.1:(\d+)$/m.exec(serverLog);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}): ${serverLog}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 10 s; resolves to the exit status. */
function stopServer(): Promise<number | string> {
  const child = server;
  server = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child?.exitCode ?? child?.signalCode ?? "not running");
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10000);
    child.once("exit", (code, signal) => {
      clearTimeout(kill);
      resolve(code ?? signal ?? "?");
    });
    child.kill("SIGTERM");
  });
}

// Never leave the server behind: a signal to this process stops it first.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(signal, () => {
    server?.kill("SIGKILL");
    console.log(`not ok - the scenario ran to its end (${signal})`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  });
process.on("exit", () => server?.kill("SIGKILL"));

// --- recording for the contract checker ------------------------------------------

let records = 0;
const recorder: Middleware = {
  async onResponse({ request, response }) {
    const url = new URL(request.url);
    const body = await response.clone().text();
    records++;
    writeFileSync(
      join(recordDir!, `${String(records).padStart(4, "0")}.json`),
      JSON.stringify({
        method: request.method,
        path: url.pathname + url.search,
        status: response.status,
        content_type: response.headers.get("content-type"),
        body,
      }),
    );
    return undefined;
  },
};

// --- the scenario ----------------------------------------------------------------

async function scenario(): Promise<void> {
  mkdirSync(recordDir!, { recursive: true });
  const port = await startServer();
  ok(`the server starts on a free port (${port})`);
  const baseUrl = `https://127.0.0.1:${port}`;
  const token = readFileSync(join(stateDir!, "token"), "utf8").trim().split(/\s+/)[0] ?? "";
  const ca = readFileSync(join(stateDir!, "tls.crt"));

  // TLS is really verified: without the service's certificate the
  // connection is refused.
  try {
    const r = await undiciFetch(`${baseUrl}/healthz`, { dispatcher: new Agent() });
    notOk("without the service's certificate the TLS handshake fails", `answered ${r.status}`);
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code ?? String(e);
    checkTrue(
      `without the service's certificate the TLS handshake fails (${code})`,
      /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/.test(code),
      code,
    );
  }

  // openapi-fetch with undici's fetch and Request (so that the Agent that
  // trusts the certificate is undici's own), as its options allow.
  const dispatcher = new Agent({ connect: { ca } });
  const clientFetch = (input: Request): Promise<Response> =>
    undiciFetch(input as unknown as UndiciRequest, { dispatcher }) as unknown as Promise<Response>;
  const client = createClient<paths>({
    baseUrl,
    fetch: clientFetch,
    Request: UndiciRequest as unknown as typeof Request,
    headers: { Authorization: `Bearer ${token}` },
  });
  client.use(recorder);
  const anonymous = createClient<paths>({
    baseUrl,
    fetch: clientFetch,
    Request: UndiciRequest as unknown as typeof Request,
  });
  anonymous.use(recorder);

  // Reads need the token.
  expectProblem("GET /sizes without a token", 401, "unauthorized", await anonymous.GET("/sizes"));

  // GET /sizes: the fixture's figures (tests/fixtures/README.md).
  const sizes: Schemas["SizesReport"] = expectData("GET /sizes", await client.GET("/sizes"));
  check("GET /sizes: the sizes are 2Mi and 1Gi", ["1Gi", "2Mi"], sizes.sizes.map((s) => s.size).sort());
  check("GET /sizes: default size", "2Mi", sizes.default_size);
  check("GET /sizes: NUMA nodes", [0, 1], sizes.nodes.map((n) => n.node));
  const s2m = sizes.sizes.find((s) => s.size === "2Mi");
  const s1g = sizes.sizes.find((s) => s.size === "1Gi");
  check(
    "GET /sizes: 2Mi bytes, default, gigantic, runtime allocation, total/free/reserved/surplus",
    [MI2, true, false, "yes", 512, 500, 10, 0],
    [s2m?.bytes, s2m?.default, s2m?.gigantic, s2m?.runtime_allocation, s2m?.total, s2m?.free, s2m?.reserved, s2m?.surplus],
  );
  check(
    "GET /sizes: 2Mi per node totals",
    [{ node: 0, total: 256 }, { node: 1, total: 256 }],
    s2m?.nodes.map((n) => ({ node: n.node, total: n.total })),
  );
  check(
    "GET /sizes: 1Gi bytes, gigantic, best-effort allocation, total 2",
    [GI1, true, "best_effort", 2],
    [s1g?.bytes, s1g?.gigantic, s1g?.runtime_allocation, s1g?.total],
  );
  check("GET /sizes: memory.total_bytes (MemTotal)", 65606484 * 1024, sizes.memory.total_bytes);
  check("GET /sizes: THP enabled active", "madvise", sizes.transparent_hugepage.enabled?.active);

  // POST /validate, a config that does not fit this machine: 200, not valid,
  // each error at its field.
  const invalid: Schemas["ValidateReport"] = expectData(
    "POST /validate (a size and a node this machine lacks)",
    await client.POST("/validate", { body: { pools: { "3Mi": { count: 1 }, "1Gi": { nodes: { "3": 1 } } } } }),
  );
  check("POST /validate: valid is false", false, invalid.valid);
  check(
    "POST /validate: the errors' pointers and codes",
    ["/pools/1Gi/nodes/3 unknown_node", "/pools/3Mi unsupported_size"],
    invalid.errors.map((e) => `${e.pointer} ${e.code}`).sort(),
  );

  // A malformed one: 400 naming the field.
  const malformed = await client.POST("/validate", { body: { pools: { "2Mi": { count: -1 } } } });
  expectProblem("POST /validate (a negative count)", 400, "invalid-config", malformed);
  check(
    "POST /validate (a negative count): the finding's pointer and code",
    ["/pools/2Mi/count negative"],
    malformed.error?.errors?.map((e) => `${e.pointer} ${e.code}`),
  );

  // A valid one, with its memory arithmetic: the 1Gi pool it does not name
  // keeps its 2 pages.
  const valid: Schemas["ValidateReport"] = expectData(
    "POST /validate (2Mi: 600 pages)",
    await client.POST("/validate", { body: { pools: { "2Mi": { count: 600 } } } }),
  );
  check("POST /validate: valid, no errors", [true, []], [valid.valid, valid.errors]);
  check(
    "POST /validate: hugepages_bytes after, and now",
    [600 * MI2 + 2 * GI1, 512 * MI2 + 2 * GI1],
    [valid.memory.hugepages_bytes, valid.memory.current_hugepages_bytes],
  );
  check(
    "POST /validate: left_for_host_bytes = total - hugepages",
    valid.memory.total_bytes - valid.memory.hugepages_bytes,
    valid.memory.left_for_host_bytes,
  );
  check("POST /validate changed nothing", 512, readTree("nr_hugepages"));

  // GET /config: nothing set yet.
  const before = await client.GET("/config");
  const beforeDoc: Schemas["ConfigDocument"] = expectData("GET /config", before);
  check("GET /config: generation 0, no config", [0, null], [beforeDoc.generation, beforeDoc.config]);
  const etag0 = before.response.headers.get("etag");
  check("GET /config: ETag", '"0"', etag0);

  // PUT /config with If-Match and a confirm window.
  const t0 = Date.now();
  const put1 = await client.PUT("/config", {
    params: { query: { confirm_within: 120 }, header: { "If-Match": etag0 ?? "" } },
    body: { pools: { "2Mi": { count: 600 } } },
  });
  const applied1: Schemas["ApplyResult"] = expectData("PUT /config?confirm_within=120 with If-Match", put1);
  check("PUT /config: generation 1, complete", [1, true], [applied1.generation, applied1.complete]);
  check("PUT /config: ETag", '"1"', put1.response.headers.get("etag"));
  check("PUT /config: the canonical config", { pools: { "2Mi": { count: 600 } } }, applied1.config);
  check(
    "PUT /config: the read-back of the 2Mi write",
    [{ pointer: "/pools/2Mi/count", size: "2Mi", node: null, requested: 600, before: 512, after: 600, written: true, status: "ok" }],
    applied1.results.map(({ pointer, size, node, requested, before, after, written, status }) => ({
      pointer, size, node, requested, before, after, written, status,
    })),
  );
  const deadline = applied1.confirm_deadline === null ? NaN : Date.parse(applied1.confirm_deadline);
  checkTrue(
    "PUT /config: confirm_deadline about 120 s ahead",
    deadline >= t0 + 118000 && deadline <= Date.now() + 121000,
    applied1.confirm_deadline,
  );
  check("PUT /config: the fake kernel holds 600 2Mi pages", 600, readTree("nr_hugepages"));

  const pending: Schemas["Status"] = expectData("GET /status (pending)", await client.GET("/status"));
  check(
    "GET /status: the change awaits confirmation and reverts to generation 0",
    [1, 0, 0],
    [pending.pending_confirm?.generation, pending.pending_confirm?.reverts_to, pending.confirmed_generation],
  );
  const left = pending.pending_confirm?.seconds_left ?? -1;
  // The deadline is rounded up to a whole second (the window is never
  // shorter than asked), so right after the PUT up to 121 seconds are left.
  checkTrue("GET /status: seconds_left in (0, 121]", left > 0 && left <= 121, left);

  // POST /config/confirm.
  const confirmed: Schemas["ConfirmResult"] = expectData(
    "POST /config/confirm with If-Match",
    await client.POST("/config/confirm", { params: { header: { "If-Match": '"1"' } } }),
  );
  check("POST /config/confirm: generation 1 confirmed", { generation: 1, confirmed: true }, confirmed);
  expectProblem("POST /config/confirm again", 409, "nothing-pending", await client.POST("/config/confirm"));

  // GET /status: confirmed, nothing pending, the kernel as the fake tree holds it.
  const status1: Schemas["Status"] = expectData("GET /status", await client.GET("/status"));
  check(
    "GET /status: generation and confirmed generation 1",
    [1, 1],
    [status1.generation, status1.confirmed_generation],
  );
  check("GET /status: no pending confirmation", null, status1.pending_confirm);
  check("GET /status: in sync, no drift", [true, []], [status1.in_sync, status1.drift]);
  check("GET /status: desired config", { pools: { "2Mi": { count: 600 } } }, status1.desired);
  check("GET /status: node name", "client-scenario", status1.node_name);
  check(
    "GET /status: last apply generation 1, complete",
    [1, true],
    [status1.last_apply?.generation, status1.last_apply?.complete],
  );
  const k2m = status1.kernel.sizes.find((s) => s.size === "2Mi");
  check(
    "GET /status: kernel 2Mi total and free as the fake tree holds them",
    [readTree("nr_hugepages"), readTree("free_hugepages")],
    [k2m?.total, k2m?.free],
  );
  check("GET /status: kernel 2Mi total is 600", 600, k2m?.total);

  // A second change, confirmed at once; a stale If-Match is then refused.
  const put2 = await client.PUT("/config", {
    params: { header: { "If-Match": '"1"' } },
    body: { pools: { "2Mi": { count: 640 } } },
  });
  const applied2: Schemas["ApplyResult"] = expectData("PUT /config (2Mi: 640) without a window", put2);
  check(
    "PUT /config: generation 2, no deadline, 640 read back",
    [2, null, 640],
    [applied2.generation, applied2.confirm_deadline, applied2.results[0]?.after],
  );
  const stale = await client.PUT("/config", {
    params: { header: { "If-Match": '"1"' } },
    body: { pools: { "2Mi": { count: 700 } } },
  });
  expectProblem("PUT /config with a stale If-Match", 412, "precondition-failed", stale);
  check("PUT /config with a stale If-Match: ETag names generation 2", '"2"', stale.response.headers.get("etag"));
  check("the stale PUT changed nothing", 640, readTree("nr_hugepages"));

  // GET /config/history: newest first.
  const history: Schemas["History"] = expectData("GET /config/history", await client.GET("/config/history"));
  check("GET /config/history: generation 2, confirmed 2", [2, 2], [history.generation, history.confirmed_generation]);
  check(
    "GET /config/history: the generations",
    [
      { generation: 2, state: "confirmed", current: true, complete: true, origin: null, windowed: false, count: 640 },
      { generation: 1, state: "confirmed", current: false, complete: true, origin: null, windowed: true, count: 600 },
    ],
    history.generations.map((g) => ({
      generation: g.generation,
      state: g.state,
      current: g.current,
      complete: g.complete,
      origin: g.origin,
      windowed: g.deadline !== null,
      count: g.config.pools?.["2Mi"]?.count,
    })),
  );
  checkTrue(
    "GET /config/history: who made each change is named",
    history.generations.every((g) => g.who.length > 0),
    history.generations.map((g) => g.who),
  );

  // POST /config/rollback to generation 1: a new generation 3.
  const back = await client.POST("/config/rollback", {
    params: { header: { "If-Match": '"2"' } },
    body: { generation: 1 },
  });
  const rolled: Schemas["ApplyResult"] = expectData("POST /config/rollback to generation 1", back);
  check("POST /config/rollback: generation 3, complete", [3, true], [rolled.generation, rolled.complete]);
  check("POST /config/rollback: ETag", '"3"', back.response.headers.get("etag"));
  check("POST /config/rollback: generation 1's config", { pools: { "2Mi": { count: 600 } } }, rolled.config);
  check(
    "POST /config/rollback: 640 -> 600 read back",
    [{ requested: 600, before: 640, after: 600, status: "ok" }],
    rolled.results.map(({ requested, before, after, status }) => ({ requested, before, after, status })),
  );
  check("POST /config/rollback: the fake kernel holds 600 2Mi pages", 600, readTree("nr_hugepages"));
  expectProblem(
    "POST /config/rollback to a generation not in the history",
    404,
    "unknown-generation",
    await client.POST("/config/rollback", { body: { generation: 99 } }),
  );

  // The status after it.
  const status3: Schemas["Status"] = expectData("GET /status after the rollback", await client.GET("/status"));
  check(
    "GET /status: generation 3 confirmed, nothing pending, in sync",
    [3, 3, null, true],
    [status3.generation, status3.confirmed_generation, status3.pending_confirm, status3.in_sync],
  );
  check("GET /status: desired config after the rollback", { pools: { "2Mi": { count: 600 } } }, status3.desired);
  check(
    "GET /status: kernel 2Mi total after the rollback, as in the fake tree",
    [600, readTree("nr_hugepages")],
    [status3.kernel.sizes.find((s) => s.size === "2Mi")?.total, readTree("nr_hugepages")],
  );
  const history3: Schemas["History"] = expectData("GET /config/history after the rollback", await client.GET("/config/history"));
  check(
    "GET /config/history: generation 3 is current and came from generation 1",
    [3, true, 1, "confirmed"],
    [history3.generations[0]?.generation, history3.generations[0]?.current, history3.generations[0]?.origin, history3.generations[0]?.state],
  );
}

/** The recorded exchanges against the document (tests/contract/validate.mjs). */
function contract(): void {
  const checker = join(repo!, "tests/contract/validate.mjs");
  const result = spawnSync(process.execPath, [checker, join(repo!, "openapi/openapi.json"), recordDir!], {
    encoding: "utf8",
  });
  const summary = /contract: (\d+) passed, (\d+) failed/.exec(result.stdout ?? "");
  if (result.status === 0 && summary && Number(summary[1]) === records && records > 0) {
    ok(`every one of the ${records} exchanges matches openapi/openapi.json (tests/contract/validate.mjs)`);
  } else {
    const failures = (result.stdout ?? "").split("\n").filter((l) => l.startsWith("FAIL")).slice(0, 10);
    notOk(
      `every one of the ${records} exchanges matches openapi/openapi.json (tests/contract/validate.mjs)`,
      `exit ${result.status}: ${failures.join("; ") || (result.stderr ?? "").slice(0, 600)}`,
    );
  }
}

const watchdog = setTimeout(() => {
  server?.kill("SIGKILL");
  console.log("not ok - the scenario finishes within 60 s");
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 60000);

try {
  await scenario();
} catch (e) {
  if (!(e instanceof Bail)) notOk("the scenario runs to its end", e instanceof Error ? e.message : String(e));
}
const exit = await stopServer();
check("the server stops cleanly on SIGTERM", 0, exit);
if (records > 0) contract();
clearTimeout(watchdog);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
