// Self-test of the contract checker: every record in selftest/good must pass
// and every record in selftest/bad must fail, for the reason its "expect"
// member (a regular expression) names, so that a bad record cannot pass
// the test by failing for some other, unintended reason. Run with `npm test`.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const doc = `${here}../../openapi/openapi.json`;

function run(dir) {
  const child = spawnSync(process.execPath, [`${here}validate.mjs`, doc, `${here}selftest/${dir}`], {
    encoding: "utf8",
  });
  const lines = child.stdout.trim().split("\n");
  return { code: child.status, lines, output: child.stdout + child.stderr };
}

const checks = [];
const good = run("good");
checks.push(["selftest/good: every record passes", good.code === 0 && !good.lines.some((l) => l.startsWith("FAIL")), good]);

const bad = run("bad");
const badCount = readdirSync(`${here}selftest/bad`).filter((n) => n.endsWith(".json")).length;
checks.push([
  `selftest/bad: all ${badCount} records fail`,
  bad.code === 1 && bad.lines.filter((l) => l.startsWith("FAIL")).length === badCount && badCount > 0,
  bad,
]);

// Each bad record's FAIL line must match its "expect".
const badNames = readdirSync(`${here}selftest/bad`).filter((n) => n.endsWith(".json"));
for (const name of badNames) {
  const expect = JSON.parse(readFileSync(`${here}selftest/bad/${name}`, "utf8")).expect;
  const line = bad.lines.find((l) => l.startsWith("FAIL") && l.includes(`(${name})`)) ?? "";
  const fits = typeof expect === "string" && new RegExp(expect).test(line);
  checks.push([
    `selftest/bad/${name}: fails for its reason /${expect ?? "(no expect member)"}/`,
    fits,
    { output: line || `no FAIL line for ${name}\n` },
  ]);
}

let failed = 0;
for (const [what, ok, result] of checks) {
  console.log(`${ok ? "ok" : "FAIL"} ${what}`);
  if (!ok) {
    failed++;
    console.log(result.output.replace(/^/gm, "    "));
  }
}
console.log(`selftest: ${checks.length - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
