// Contract check: every recorded HTTP exchange must match the OpenAPI document.
//
// Usage: node validate.mjs OPENAPI_JSON RECORD_DIR
//
// RECORD_DIR holds one *.json file per exchange, written by the shell
// integration tests:
//   {"method": "GET", "path": "/sizes", "status": 200,
//    "content_type": "application/json", "body": "<raw response body>"}
//
// For each record we find the operation (HEAD is checked as GET, without a
// body), the response for the status (exact, else 4XX/5XX, else default),
// the media type, and validate the parsed body against its schema with
// Ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses). A path the document does
// not list may only answer 404, and a listed path with a method it does not
// list may only answer 405: those are checked against
// components/responses/NotFound and components/responses/MethodNotAllowed.
//
// Prints one line per record and closes with "contract: N passed, M failed".
// Exits 1 if any record failed or none was found, 2 if the document itself
// is unusable.

import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const DOC_ID = "urn:hugepaged:openapi";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function die(message) {
  console.error(`contract: ${message}`);
  process.exit(2);
}

// RFC 6901 helpers.
const escapeToken = (t) => String(t).replaceAll("~", "~0").replaceAll("/", "~1");
const unescapeToken = (t) => t.replaceAll("~1", "/").replaceAll("~0", "~");
const pointerOf = (tokens) => tokens.map((t) => "/" + escapeToken(t)).join("");

function resolvePointer(doc, pointer) {
  let node = doc;
  for (const token of pointer.split("/").slice(1).map(unescapeToken)) {
    if (node === null || typeof node !== "object" || !(token in node)) return undefined;
    node = node[token];
  }
  return node;
}

// Every "$ref" in the document must be local ("#/...") and point somewhere.
function checkRefs(doc) {
  const problems = [];
  const walk = (node, at) => {
    if (node === null || typeof node !== "object") return;
    if (typeof node.$ref === "string") {
      const target = node.$ref;
      if (!target.startsWith("#")) problems.push(`${at}: external $ref ${target} is not supported`);
      else if (resolvePointer(doc, decodeURIComponent(target.slice(1))) === undefined)
        problems.push(`${at}: $ref ${target} does not resolve`);
    }
    for (const [key, value] of Object.entries(node)) walk(value, `${at}/${escapeToken(key)}`);
  };
  walk(doc, "#");
  return problems;
}

// Validate the document against the OAS schema when the optional package
// is installed; the $ref check above runs in any case.
async function checkDocument(doc) {
  const problems = checkRefs(doc);
  let Validator;
  try {
    ({ Validator } = await import("@seriousme/openapi-schema-validator"));
  } catch {
    console.error("contract: @seriousme/openapi-schema-validator not installed, checking $refs only");
  }
  if (Validator) {
    const result = await new Validator().validate(structuredClone(doc));
    if (!result.valid) problems.push(...[result.errors].flat().map((e) => JSON.stringify(e)));
  }
  return problems;
}

// Follow a "$ref" to components/responses; returns [response, pointer].
function deref(doc, node, pointer) {
  for (let hops = 0; node && typeof node.$ref === "string"; hops++) {
    if (hops > 10) return [undefined, pointer];
    pointer = decodeURIComponent(node.$ref.slice(1));
    node = resolvePointer(doc, pointer);
  }
  return [node, pointer];
}

function findPathItem(doc, path) {
  const paths = doc.paths ?? {};
  if (paths[path]) return path;
  for (const template of Object.keys(paths)) {
    if (!template.includes("{")) continue;
    const source = template
      .split(/(\{[^}]+\})/)
      .map((part) => (part.startsWith("{") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
      .join("");
    if (new RegExp(`^${source}$`).test(path)) return template;
  }
  return undefined;
}

// Returns [response, pointer] for a record, or a string saying why none fits.
function findResponse(doc, record) {
  const path = record.path.split(/[?#]/)[0];
  const template = findPathItem(doc, path);
  if (template === undefined) {
    if (record.status === 404) return deref(doc, { $ref: "#/components/responses/NotFound" });
    return `path ${path} is not in the document (only 404 may answer it)`;
  }
  const item = doc.paths[template];
  const method = record.method.toLowerCase() === "head" ? "get" : record.method.toLowerCase();
  if (!METHODS.includes(method) || !item[method]) {
    if (record.status === 405) return deref(doc, { $ref: "#/components/responses/MethodNotAllowed" });
    return `${record.method} ${template} is not in the document (only 405 may answer it)`;
  }
  const responses = item[method].responses ?? {};
  const status = String(record.status);
  for (const key of [status, `${status[0]}XX`, "default"]) {
    if (responses[key])
      return deref(doc, responses[key], pointerOf(["paths", template, method, "responses", key]));
  }
  return `${record.method} ${template} has no response for status ${status}`;
}

function checkRecord(doc, ajv, record) {
  const found = findResponse(doc, record);
  if (typeof found === "string") return [found];
  const [response, responsePointer] = found;
  if (!response) return [`response ${responsePointer} does not resolve`];

  const isHead = record.method.toUpperCase() === "HEAD";
  const body = record.body ?? "";
  const content = response.content ?? {};
  const mediaTypes = Object.keys(content);

  if (mediaTypes.length === 0) {
    if (body !== "" && !isHead) return [`response defines no content but the body is not empty`];
    return [];
  }
  if (!record.content_type) {
    if (isHead) return [];
    return [`no content type; expected one of ${mediaTypes.join(", ")}`];
  }
  const type = record.content_type.split(";")[0].trim().toLowerCase();
  const mediaKey = [type, type.replace(/\/.*/, "/*"), "*/*"].find((k) => k in content);
  if (!mediaKey) return [`content type ${type} not in ${mediaTypes.join(", ")}`];
  if (isHead) return [];
  if (body === "") return [`empty body, but the response defines content ${mediaTypes.join(", ")}`];

  const schema = content[mediaKey].schema;
  if (!schema) return [];
  let data = body;
  if (/[/+]json$/.test(mediaKey)) {
    try {
      data = JSON.parse(body);
    } catch (err) {
      return [`body is not JSON: ${err.message}`];
    }
  }
  const schemaPointer = pointerOf([...responsePointer.split("/").slice(1).map(unescapeToken), "content", mediaKey, "schema"]);
  const validate = compile(ajv, schemaPointer);
  const errors = [];
  if (!validate(data))
    for (const e of validate.errors) {
      const detail = e.params?.additionalProperty ?? e.params?.missingProperty ?? e.params?.allowedValues;
      errors.push(`${e.instancePath || "/"} ${e.message}${detail !== undefined ? ` (${JSON.stringify(detail)})` : ""}`);
    }
  if (type === "application/problem+json" && Number.isInteger(data?.status) && data.status !== record.status)
    errors.push(`/status is ${data.status} but the HTTP status is ${record.status}`);
  return errors;
}

// Compile (once) the schema found at a JSON pointer inside the document.
const compiled = new Map();
function compile(ajv, pointer) {
  if (!compiled.has(pointer)) {
    const fragment = pointer.split("/").map(encodeURIComponent).join("/");
    compiled.set(pointer, ajv.compile({ $ref: `${DOC_ID}#${fragment}` }));
  }
  return compiled.get(pointer);
}

// Every schema in the document must compile (bad patterns, bad refs...).
function compileAll(doc, ajv) {
  const problems = [];
  const pointers = Object.keys(doc.components?.schemas ?? {}).map((name) =>
    pointerOf(["components", "schemas", name]),
  );
  const addContent = (content, at) => {
    for (const mediaType of Object.keys(content ?? {}))
      if (content[mediaType].schema) pointers.push(pointerOf([...at, "content", mediaType, "schema"]));
  };
  for (const [name, response] of Object.entries(doc.components?.responses ?? {}))
    addContent(response.content, ["components", "responses", name]);
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const method of METHODS.filter((m) => item[m])) {
      const op = item[method];
      if (op.requestBody) addContent(op.requestBody.content, ["paths", path, method, "requestBody"]);
      for (const [status, response] of Object.entries(op.responses ?? {}))
        if (!response.$ref) addContent(response.content, ["paths", path, method, "responses", status]);
    }
  for (const pointer of pointers) {
    try {
      compile(ajv, pointer);
    } catch (err) {
      problems.push(`${pointer}: ${err.message}`);
    }
  }
  return problems;
}

function readRecords(dir) {
  let names;
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json")).sort();
  } catch (err) {
    die(`cannot read record directory ${dir}: ${err.message}`);
  }
  return names.map((name) => {
    const file = join(dir, name);
    try {
      const record = JSON.parse(readFileSync(file, "utf8"));
      const shapeOk =
        typeof record.method === "string" &&
        typeof record.path === "string" &&
        Number.isInteger(record.status) &&
        (record.body === undefined || record.body === null || typeof record.body === "string");
      return shapeOk ? { name, record } : { name, broken: "record needs method, path, status and a string body" };
    } catch (err) {
      return { name, broken: `unreadable record: ${err.message}` };
    }
  });
}

async function main() {
  const [docFile, recordDir] = process.argv.slice(2);
  if (!docFile || !recordDir) die("usage: node validate.mjs OPENAPI_JSON RECORD_DIR");

  let doc;
  try {
    doc = JSON.parse(readFileSync(resolve(docFile), "utf8"));
  } catch (err) {
    die(`cannot read ${docFile}: ${err.message}`);
  }
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, DOC_ID);

  const docProblems = [...(await checkDocument(doc)), ...compileAll(doc, ajv)];
  if (docProblems.length > 0) {
    for (const p of docProblems) console.error(`contract: invalid document: ${p}`);
    die(`${docFile} is not a valid OpenAPI 3.1 document`);
  }

  let passed = 0;
  let failed = 0;
  for (const { name, record, broken } of readRecords(recordDir)) {
    const errors = broken ? [broken] : checkRecord(doc, ajv, record);
    const what = broken ? name : `${record.method} ${record.path} ${record.status}`;
    if (errors.length === 0) {
      passed++;
      console.log(`ok ${what}`);
    } else {
      failed++;
      console.log(`FAIL ${what} (${name}): ${errors.join("; ").replace(/\s*\n\s*/g, " ")}`);
    }
  }
  if (passed + failed === 0) console.error(`contract: no *.json records in ${recordDir}`);
  console.log(`contract: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

await main();
