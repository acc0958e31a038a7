#!/usr/bin/env node
// The node page in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), against the real binary on a copy of the fake
// tree x86-2node: either directly, or through nginx under a path prefix.
//
//   node test-page.mjs PATH-TO-hugepaged direct|nginx
//
// It checks the three page routes (types, CSP, HEAD, 405, open), then in the
// browser: the token asked for and kept in sessionStorage only, the sizes
// table and the THP choices the kernel offers, an impossible count and a
// malformed one each shown at its field (aria-invalid, aria-describedby,
// focus), a valid config, Apply with the confirm window and its countdown,
// Keep, the new totals (in the page, the API and the fake tree's file), a
// second change left to revert at its deadline, the probe section, no
// request to another origin, no CSP violation or script error. It prints
// the page weight and first-contentful-paint, saves a screenshot (the
// direct run: docs/node-page.png unless HUGEPAGED_SCREENSHOT names another
// file, or "none"), and ends with "N passed, M failed".
//
// Environment: CHROMIUM (default /usr/bin/chromium), NGINX (default
// /usr/sbin/nginx), HUGEPAGED_BROWSER_TIMEOUT
// (whole-run seconds, default 150), HUGEPAGED_KEEP_WORK=1 (keep the
// temporary directory).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const [binArg, mode = 'direct'] = process.argv.slice(2);
if (!binArg || !['direct', 'nginx'].includes(mode)) {
  console.error('usage: test-page.mjs PATH-TO-hugepaged direct|nginx');
  process.exit(2);
}
const BIN = path.resolve(binArg);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const PREFIX = '/hugepaged/';

let passed = 0;
let failed = 0;
function ok(name) { passed++; console.log('ok - ' + name); }
function notok(name, why) { failed++; console.log('not ok - ' + name + (why ? ' (' + why + ')' : '')); }
function short(v) { const s = typeof v === 'string' ? v : JSON.stringify(v); return s && s.length > 300 ? s.slice(0, 300) + '…' : s; }
function check(name, expected, actual) {
  if (expected === actual) ok(name); else notok(name, 'expected: ' + short(expected) + '; actual: ' + short(actual));
}
function checkMatch(name, re, actual) {
  if (re.test(String(actual))) ok(name); else notok(name, 'expected to match ' + re + '; actual: ' + short(actual));
}
function checkTrue(name, cond, detail) { if (cond) ok(name); else notok(name, detail); }

const missing = [BIN, CHROMIUM].concat(mode === 'nginx' ? [NGINX] : []).filter((f) => !fs.existsSync(f));
if (missing.length) {
  console.log('skip - ' + missing.join(', ') + ' missing (scripts/deps.sh installs Debian\'s chromium and nginx)');
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.error('# playwright-core is missing: run `npm ci` in tests/browser (scripts/deps.sh does)');
  notok('playwright-core loads', String(e.message));
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(1);
}

// --- processes we start, and their cleanup ------------------------------------

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'hugepaged-browser.'));
const children = []; // {name, proc}
let browser = null;
let cleaning = null;

function waitExit(proc, ms) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

async function stopChild(c) {
  const { proc } = c;
  if (proc.exitCode === null && proc.signalCode === null) {
    process.kill(proc.pid, 'SIGTERM');
    if (!(await waitExit(proc, 10000))) {
      process.kill(proc.pid, 'SIGKILL');
      await waitExit(proc, 5000);
    }
  }
  return proc.exitCode;
}

async function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (browser) await browser.close().catch(() => {});
    for (const c of children.reverse()) {
      const code = await stopChild(c).catch(() => null);
      if (c.checkExit) check(c.name + ' stops cleanly on SIGTERM', 0, code);
    }
    if (process.env.HUGEPAGED_KEEP_WORK === '1') console.error('# kept ' + WORK);
    else fs.rmSync(WORK, { recursive: true, force: true });
  })();
  return cleaning;
}

async function finish(extraFailure) {
  if (extraFailure) notok('the test ran to its end', extraFailure);
  await cleanup();
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => finish('stopped by ' + sig));
const limit = Number(process.env.HUGEPAGED_BROWSER_TIMEOUT || 150);
setTimeout(() => finish('global timeout of ' + limit + ' s reached'), limit * 1000).unref();

function start(name, cmd, args, opts = {}) {
  const log = fs.openSync(path.join(WORK, name + '.log'), 'w');
  const proc = spawn(cmd, args, { stdio: ['ignore', log, log], ...opts });
  fs.closeSync(log);
  children.push({ name, proc, checkExit: opts.checkExit });
  return proc;
}

async function waitFor(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// A request with Node's own client, verified against ca.
function request(method, url, ca, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

// --- the service, and nginx ----------------------------------------------------

async function main() {
  const fx = path.join(WORK, 'fx');
  fs.cpSync(path.join(REPO, 'tests/fixtures/x86-2node'), fx, { recursive: true });
  const state = path.join(WORK, 'state');
  start('hugepaged', BIN, ['serve', '--listen', '127.0.0.1:0', '--state-dir', state,
    '--sysfs-root', path.join(fx, 'sys'), '--procfs-root', path.join(fx, 'proc')], { checkExit: true });
  const port = await waitFor('the listening line', () => {
    const m = /listening on https:\/\/127\.0\.0\.1:(\d+)$/m.exec(fs.readFileSync(path.join(WORK, 'hugepaged.log'), 'utf8'));
    return m && Number(m[1]);
  });
  const serviceCa = fs.readFileSync(path.join(state, 'tls.crt'));
  const tokenValue = fs.readFileSync(path.join(state, 'token'), 'utf8').trim();
  const direct = 'https://127.0.0.1:' + port + '/';
  let base = direct;
  let ca = serviceCa;

  if (mode === 'nginx') {
    const dir = path.join(WORK, 'nginx');
    fs.mkdirSync(dir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'proxy.key'), '-out', path.join(dir, 'proxy.crt')], { stdio: 'ignore' });
    const nginxPort = await freePort();
    const conf = fs.readFileSync(path.join(HERE, 'nginx.conf.in'), 'utf8')
      .replaceAll('@DIR@', dir).replaceAll('@PORT@', String(nginxPort)).replaceAll('@PREFIX@', PREFIX).replaceAll('@BARE@', '/bare')
      .replaceAll('@UPSTREAM_PORT@', String(port)).replaceAll('@UPSTREAM_CA@', path.join(state, 'tls.crt'));
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const nginx = start('nginx', NGINX, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')]);
    base = 'https://127.0.0.1:' + nginxPort + PREFIX;
    ca = fs.readFileSync(path.join(dir, 'proxy.crt'));
    await waitFor('nginx to answer', async () => {
      if (nginx.exitCode !== null) throw new Error('nginx exited: ' + fs.readFileSync(path.join(dir, 'error.log'), 'utf8'));
      return request('GET', base + 'healthz', ca).then((r) => r.status === 200, () => false);
    });
    ok('nginx proxies ' + PREFIX + ' to the service');
    const r = await request('GET', base.slice(0, -1), ca);
    check('the prefix without its slash: nginx answers 301', 301, r.status);
    checkMatch('… to the prefix with the slash', new RegExp(PREFIX.replace(/\//g, '\\/') + '$'), r.headers.location);
  }

  // --- the three routes, over HTTP ---------------------------------------------
  const files = { '': 'index.html', 'ui/app.js': 'app.js', 'ui/style.css': 'style.css' };
  const types = { '': 'text/html; charset=utf-8', 'ui/app.js': 'text/javascript; charset=utf-8', 'ui/style.css': 'text/css; charset=utf-8' };
  const weight = {};
  for (const [p, file] of Object.entries(files)) {
    const name = '/' + p;
    const r = await request('GET', base + p, ca);
    check('GET ' + name + ' without a token answers 200', 200, r.status);
    check('GET ' + name + ' is ' + types[p], types[p], r.headers['content-type']);
    checkTrue('GET ' + name + ' is ui/' + file + ' byte for byte', r.body.equals(fs.readFileSync(path.join(REPO, 'ui', file))),
      r.body.length + ' bytes served');
    const csp = r.headers['content-security-policy'] || '';
    checkMatch('GET ' + name + ' has a CSP of \'self\' only', /default-src 'none'; script-src 'self'; style-src 'self'.*connect-src 'self'.*frame-ancestors 'self'/, csp);
    checkTrue('GET ' + name + ' CSP allows nothing inline', !/unsafe-inline|unsafe-eval|\*/.test(csp), csp);
    check('GET ' + name + ' X-Frame-Options', 'SAMEORIGIN', r.headers['x-frame-options']);
    weight[file] = r.body.length;
    weight[file + '.gz'] = zlib.gzipSync(r.body, { level: 9 }).length;
    const h = await request('HEAD', base + p, ca);
    check('HEAD ' + name + ' answers 200 with no body', '200 0', h.status + ' ' + h.body.length);
    check('HEAD ' + name + ' has the same Content-Length', String(r.body.length), h.headers['content-length']);
  }
  const post = await request('POST', base, ca, { 'Content-Type': 'application/json' }, '{}');
  check('POST / answers 405', 405, post.status);
  check('POST / lists the methods in Allow', 'GET, HEAD, OPTIONS', post.headers.allow);
  const api = await request('GET', base + 'sizes', ca);
  check('an API read without a token still answers 401 (the page routes are the open ones)', 401, api.status);
  checkTrue('an API answer carries no page CSP', !api.headers['content-security-policy'], api.headers['content-security-policy']);

  // Every URL in the page is relative.
  const sources = ['index.html', 'app.js'].map((f) => fs.readFileSync(path.join(REPO, 'ui', f), 'utf8')).join('\n');
  const absolute = sources.match(/(?:href|src|action)="\/[^"]*"|api\('[A-Z]+', '\/[^']*'/g);
  check('no absolute URL in ui/index.html or ui/app.js', null, absolute);

  // --- the browser ---------------------------------------------------------------
  const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  const foreign = [];
  const origin = new URL(base).origin;
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // Chromium logs every answer >= 400 as a failed resource; those are
    // checked below by URL and status instead.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) problems.push('console: ' + m.text());
  });
  const errorAnswers = [];
  page.on('response', (r) => {
    if (r.status() >= 400) errorAnswers.push(r.request().method() + ' ' + new URL(r.url()).pathname.slice(new URL(base).pathname.length) + ' ' + r.status());
  });
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin) foreign.push(r.url()); });
  const apiCalls = [];
  const withAuthorization = [];
  let withTokenHeader = 0;
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (r.resourceType() !== 'fetch') return;
    apiCalls.push(u.pathname);
    const h = r.headers();
    if (h.authorization !== undefined) withAuthorization.push(u.pathname);
    if (h['x-hugepaged-token']) withTokenHeader++;
  });
  page.setDefaultTimeout(15000);

  // The prefix without its slash (nginx redirects), else the base itself.
  const first = mode === 'nginx' ? base.slice(0, -1) : base;
  await page.goto(first, { waitUntil: 'load' });
  check('the page ends up at the base URL', base, page.url());
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'token');
  ok('without a token, the page asks for one and focuses its field');
  const fcp = await page.evaluate(() => {
    const e = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
    return e ? e.startTime : null;
  });
  const res = await page.evaluate(() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
    .filter((e) => /\/(ui\/app\.js|ui\/style\.css)$|\/$/.test(new URL(e.name).pathname))
    .map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize, body: e.decodedBodySize })));
  checkTrue('first-contentful-paint is measured', typeof fcp === 'number' && fcp > 0, String(fcp));
  const total = weight['index.html'] + weight['app.js'] + weight['style.css'];
  console.log(`# ${mode}: page weight ${total} bytes (index.html ${weight['index.html']}, app.js ${weight['app.js']}, ` +
    `style.css ${weight['style.css']}; uncompressed, as served; ` +
    `${weight['index.html.gz'] + weight['app.js.gz'] + weight['style.css.gz']} bytes gzipped); first-contentful-paint ${fcp && fcp.toFixed(1)} ms`);
  console.log('# ' + mode + ': resource timing ' + JSON.stringify(res));

  // The token: typed once, kept for the tab only.
  await page.fill('#token', tokenValue);
  await page.press('#token', 'Enter');
  await page.waitForSelector('body[data-loaded=true]');
  check('the token is kept in sessionStorage', tokenValue, await page.evaluate(() => sessionStorage.getItem('hugepaged.token')));
  check('nothing is kept in localStorage', 0, await page.evaluate(() => localStorage.length));
  check('the token field is emptied', '', await page.inputValue('#token'));

  const cell = (size, node, col) => page.textContent(`#sizes-table tr[data-size="${size}"]${node === null ? '.size-row' : `[data-node="${node}"]`} td.${col}`);
  check('2Mi total is the kernel\'s 512', '512', await cell('2Mi', null, 'total'));
  check('2Mi free is 500', '500', await cell('2Mi', null, 'free'));
  check('2Mi on NUMA node 1: total 256', '256', await cell('2Mi', 1, 'total'));
  check('1Gi on NUMA node 0: total 1', '1', await cell('1Gi', 0, 'total'));
  const sizeRow = await page.$$eval('#sizes-table tr[data-size="2Mi"].size-row > *', (c) => c.map((x) => x.textContent));
  check('the 2Mi row: total, free, reserved, surplus, persistent', '512 500 10 0 512', sizeRow.slice(2, 7).join(' '));
  check('THP enabled offers exactly the kernel\'s choices', ',always,madvise,never',
    (await page.$$eval('#thp-enabled option', (o) => o.map((x) => x.value))).join(','));
  check('THP defrag offers exactly the kernel\'s choices', ',always,defer,defer+madvise,madvise,never',
    (await page.$$eval('#thp-defrag option', (o) => o.map((x) => x.value))).join(','));
  checkMatch('the memory bar describes hugepages, host reserve and what is left',
    /^Hugepages 3\.0 GiB, host reserve 6\.3 GiB, left 53\.3 GiB of 62\.6 GiB$/, await page.getAttribute('#memory-bar', 'aria-label'));
  checkMatch('the disclaimer is shown', /may lower performance or make the node unusable.*Only testing with the real\s+workload tells/s,
    await page.textContent('.disclaimer'));
  const unlabelled = await page.$$eval('input, select', (els) => els.filter((e) => e.type !== 'hidden' && e.labels.length === 0).map((e) => e.id));
  check('every input and select has a label', '', unlabelled.join(','));

  // Keyboard: the skip link before the token field, then the token form in order.
  await page.focus('#token');
  await page.keyboard.press('Shift+Tab');
  check('Shift+Tab from the token: the skip link, first on the page', 'Skip to the configuration', await page.evaluate(() => document.activeElement.textContent));
  await page.keyboard.press('Tab');
  const order = [];
  for (let i = 0; i < 4; i++) {
    order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent));
    await page.keyboard.press('Tab');
  }
  check('Tab order: token, Use token, Forget, Refresh', 'token,Use token,token-forget,refresh', order.join(','));

  // An impossible count, per NUMA node: the error at that field.
  await page.check('#pool-1Gi-pernode');
  await page.fill('#pool-1Gi-node-0', '500');
  await page.click('#validate');
  await page.waitForSelector('#err-pool-1Gi-node-0:not([hidden])');
  check('the impossible count is marked aria-invalid', 'true', await page.getAttribute('#pool-1Gi-node-0', 'aria-invalid'));
  check('… its message is the field\'s aria-describedby', 'err-pool-1Gi-node-0', await page.getAttribute('#pool-1Gi-node-0', 'aria-describedby'));
  checkMatch('… which says what is wrong', /Error: the pools would take .* on NUMA node 0, which has/, await page.textContent('#err-pool-1Gi-node-0'));
  check('… with the service\'s code', 'exceeds_node_memory', await page.getAttribute('#err-pool-1Gi-node-0 .finding', 'data-code'));
  check('… and the field has the focus', 'pool-1Gi-node-0', await page.evaluate(() => document.activeElement.id));
  checkMatch('the verdict says it does not fit', /Does not fit this node: \d+ errors?/, await page.textContent('#validate-verdict'));
  checkTrue('the other fields are not marked', (await page.getAttribute('#pool-2Mi-count', 'aria-invalid')) === null);
  checkMatch('the memory bar shows the proposal, over the memory', /exceed memory/, await page.getAttribute('#memory-bar', 'aria-label'));

  // A count that is not a number: the 400's finding at its field.
  await page.fill('#pool-1Gi-node-0', '');
  await page.uncheck('#pool-1Gi-pernode');
  await page.fill('#pool-2Mi-count', 'lots');
  await page.click('#validate');
  await page.waitForSelector('#err-pool-2Mi-count:not([hidden])');
  check('a count that is no number: the error at the count field', 'wrong_type', await page.getAttribute('#err-pool-2Mi-count .finding', 'data-code'));
  check('… which is aria-invalid and focused', 'true pool-2Mi-count',
    (await page.getAttribute('#pool-2Mi-count', 'aria-invalid')) + ' ' + (await page.evaluate(() => document.activeElement.id)));
  checkTrue('… and the earlier error is gone', await page.isHidden('#err-pool-1Gi-node-0'));

  // A valid config; Apply, the confirm window, Keep.
  await page.fill('#pool-2Mi-count', '1024');
  // (THP stays unmanaged: in a fake tree a write replaces the file's list
  // of choices with the one word, which the read-back refuses.) A default
  // size other than the running one takes a reboot.
  await page.selectOption('#default-size', '1Gi', { timeout: 3000 }).catch(async (e) => { throw new Error('select: ' + (await page.evaluate(() => document.getElementById('default-size').outerHTML))); });
  await page.click('#validate');
  await page.waitForFunction(() => /^Valid/.test((document.getElementById('validate-verdict') || {}).textContent || ''));
  ok('the valid config validates');
  checkMatch('the memory bar shows the proposal', /^Hugepages 4\.0 GiB/, await page.getAttribute('#memory-bar', 'aria-label'));
  await page.fill('#confirm-within', '120');
  await page.click('#apply');
  await page.waitForSelector('#confirm-dialog[open] #confirm-go:not([hidden])');
  checkMatch('Apply opens a confirm window that repeats the disclaimer', /may lower performance/, await page.textContent('#confirm-text'));
  await page.click('#confirm-go');
  await page.waitForSelector('#confirm-keep:not([hidden])').catch(async (e) => {
    throw new Error('no Keep button; the dialog says: ' + (await page.textContent('#confirm-msg')));
  });
  const c1 = await page.textContent('#confirm-countdown');
  checkMatch('the confirm window counts down', /^Reverts automatically in (1[01]\d|12[01]) s$/, c1);
  check('Keep has the focus', 'confirm-keep', await page.evaluate(() => document.activeElement.id));
  await page.waitForTimeout(1600);
  const c2 = await page.textContent('#confirm-countdown');
  checkTrue('… and the count goes down', Number(/\d+/.exec(c2)[0]) < Number(/\d+/.exec(c1)[0]), c1 + ' then ' + c2);
  checkMatch('the apply result shows what the kernel did', /2Mi\s*all\s*1,024\s*512\s*1,024\s*ok/, await page.textContent('#apply-table'));
  const pendingApi = JSON.parse((await request('GET', direct + 'status', serviceCa, { Authorization: 'Bearer ' + tokenValue })).body);
  check('the service holds generation 1 pending', '1 0', pendingApi.pending_confirm && pendingApi.pending_confirm.generation + ' ' + pendingApi.confirmed_generation);
  await page.click('#confirm-keep');
  await page.waitForFunction(() => /^Kept: generation 1/.test(document.getElementById('confirm-msg').textContent));
  ok('Keep confirms generation 1');
  await page.click('#confirm-close');
  check('the dialog closes', false, await page.evaluate(() => document.getElementById('confirm-dialog').open));
  check('the new 2Mi total in the page', '1,024', await cell('2Mi', null, 'total'));
  const kept = JSON.parse((await request('GET', direct + 'status', serviceCa, { Authorization: 'Bearer ' + tokenValue })).body);
  check('the service: generation 1 confirmed, nothing pending', '1 1 null', kept.generation + ' ' + kept.confirmed_generation + ' ' + JSON.stringify(kept.pending_confirm));
  check('the fake kernel file holds 1024', '1024', fs.readFileSync(path.join(fx, 'sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'), 'utf8').trim());
  checkMatch('the status lists the default size as taking a reboot', /Takes a reboot.*\/default_size/s, await page.textContent('#status-body'));
  checkMatch('the history lists generation 1, confirmed', /confirmed/, await page.textContent('#history-table tr[data-generation="1"]'));
  checkMatch('the status shows generation 1 confirmed', /Confirmed generation\s*1/, await page.textContent('#status-body'));

  // The screenshot for the README: the page after the change was kept.
  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = process.env.HUGEPAGED_SCREENSHOT || (mode === 'direct' ? path.join(REPO, 'docs/node-page.png') : 'none');
  if (shot !== 'none') {
    await page.screenshot({ path: shot, fullPage: true });
    ok('screenshot saved: ' + path.relative(REPO, shot));
  }

  // The probe: a result table, or its refusal, legible.
  for (const b of await page.$$eval('#probe-backings input', (i) => i.map((x) => x.value))) {
    if (b === 'base') await page.check('#probe-b-' + b); else await page.uncheck('#probe-b-' + b);
  }
  await page.fill('#probe-ws', '16Mi');
  await page.click('#probe-start');
  await page.waitForFunction(() => /^(Probe \d+ (done|failed|cancelled)|The probe did not start)/.test(document.getElementById('probe-progress').textContent), null, { timeout: 60000 });
  const progress = await page.textContent('#probe-progress');
  if (/did not start/.test(progress)) {
    checkMatch('the probe\'s refusal is shown with its status and reason', /did not start: \d{3} \w.*: .{10,}/, progress);
  } else {
    const rows = await page.$$eval('#probe-table tbody tr', (r) => r.map((x) => [...x.children].map((c) => c.textContent)));
    checkTrue('the probe result table has a row per working set and backing', rows.length === 1 && rows[0][0] === '16Mi' && rows[0][1] === 'base', JSON.stringify(rows));
    checkMatch('… whose outcome is a status and its reason, or the numbers', /^(ok|partial|not-obtained|skipped|failed|cancelled)/, rows[0] && rows[0][2]);
    if (rows[0] && rows[0][2].startsWith('ok')) checkMatch('… with the median per load', /ns$/, rows[0][3]);
    else checkMatch('… and says why', /: .{10,}/, rows[0] && rows[0][2]);
  }
  checkTrue('the probe was polled at its Location under the page\'s base', apiCalls.some((p) => p.startsWith(new URL(base).pathname + 'probe/')), apiCalls.filter((p) => /probe/.test(p)).join(' '));

  // A second change, reverted with the button well before its deadline:
  // POST /config/revert writes back what it replaced, at once.
  await page.fill('#pool-2Mi-count', '600');
  await page.selectOption('#default-size', '');
  await page.fill('#confirm-within', '120');
  await page.click('#apply');
  await page.waitForSelector('#confirm-dialog[open] #confirm-go:not([hidden])');
  await page.click('#confirm-go');
  await page.waitForSelector('#confirm-revert:not([hidden])');
  check('the second change is on the page', '600', await cell('2Mi', null, 'total'));
  const revertStarted = Date.now();
  await page.click('#confirm-revert');
  await page.waitForFunction(() => /Reverted/.test(document.getElementById('confirm-msg').textContent), null, { timeout: 10000 });
  check('Revert undoes generation 2 at once and says so',
    'Reverted: generation 2 is undone, generation 1 is in force again.', await page.textContent('#confirm-msg'));
  checkTrue('… long before the 120 s deadline', Date.now() - revertStarted < 10000, String(Date.now() - revertStarted) + ' ms');
  const after = JSON.parse((await request('GET', direct + 'status', serviceCa, { Authorization: 'Bearer ' + tokenValue })).body);
  check('the service: generation 1 in force again, nothing pending', '1 1 null', after.generation + ' ' + after.confirmed_generation + ' ' + JSON.stringify(after.pending_confirm));
  check('the 2Mi total is back to 1,024', '1,024', await cell('2Mi', null, 'total'));
  checkMatch('the history shows generation 2 reverted', /reverted/, await page.textContent('#history-table tr[data-generation="2"]'));
  await page.click('#confirm-close');
  check('after closing the dialog the focus returns to Apply', 'apply', await page.evaluate(() => document.activeElement.id));

  // History offers a rollback to generation 2: its dialog shows the config.
  await page.click('#history-table tr[data-generation="2"] button');
  await page.waitForSelector('#confirm-dialog[open] #confirm-go:not([hidden])');
  check('the rollback dialog names the generation', 'Roll back to generation 2?', await page.textContent('#confirm-h'));
  checkMatch('… and shows its config', /"2Mi"[\s\S]*"count": 600/, await page.textContent('#confirm-text pre'));
  await page.keyboard.press('Escape');
  check('Escape closes it without a change', false, await page.evaluate(() => document.getElementById('confirm-dialog').open));

  // Now the rollback itself: generation 2's config comes back as
  // generation 3, through the confirm window, and is kept.
  await page.click('#history-table tr[data-generation="2"] button');
  await page.waitForSelector('#confirm-dialog[open] #confirm-go:not([hidden])');
  await page.click('#confirm-go');
  await page.waitForSelector('#confirm-keep:not([hidden])');
  check('the rollback opens a confirm window for generation 3', 'Keep generation 3?', await page.textContent('#confirm-h'));
  await page.click('#confirm-keep');
  await page.waitForFunction(() => /^Kept/.test(document.getElementById('confirm-msg').textContent));
  check('… kept', 'Kept: generation 3 is confirmed and will be applied at boot.', await page.textContent('#confirm-msg'));
  check('the 2Mi total is generation 2\'s 600', '600', await cell('2Mi', null, 'total'));
  const rolled = JSON.parse((await request('GET', direct + 'status', serviceCa, { Authorization: 'Bearer ' + tokenValue })).body);
  check('the service: generation 3 confirmed, 600 pages of 2Mi', '3 3 600',
    rolled.generation + ' ' + rolled.confirmed_generation + ' ' + (rolled.desired && rolled.desired.pools['2Mi'].count));
  checkMatch('the history shows generation 3 current, from generation 2', /3[\s\S]*current[\s\S]*confirmed/, await page.textContent('#history-table tr[data-generation="3"]'));
  await page.click('#confirm-close');

  // Drift: someone writes the pool behind the service's back; after the
  // 100 ms an answer is kept (docs/api.md), Refresh shows it.
  fs.writeFileSync(path.join(fx, 'sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'), '700\n');
  await new Promise((r) => setTimeout(r, 200));
  await page.click('#refresh');
  await page.waitForSelector('#drift li');
  check('the status shows the drift at its pointer', '/pools/2Mi/count: desired 600, kernel 700', await page.textContent('#drift li'));
  checkMatch('… and says the kernel does not match', /no: drift below/, await page.textContent('#status-body'));
  fs.writeFileSync(path.join(fx, 'sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'), '600\n');

  // A reload keeps the token (same tab) and does not ask again.
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('body[data-loaded=true]');
  check('after a reload the token is still used', 'Using the token kept for this tab.', await page.textContent('#token-msg'));

  if (mode === 'nginx') {
    // A proxy that drops the prefix's slash without redirecting: the
    // script cannot load, and the page's own note says why.
    const bare = await context.newPage();
    await bare.goto(new URL(base).origin + '/bare', { waitUntil: 'load' });
    checkMatch('a prefix without its slash: the page says the address must end with a slash',
      /address must end with a slash/, await bare.textContent('#boot-note'));
    checkTrue('… and shows it', await bare.isVisible('#boot-note'));
    await bare.close();
  }

  check('no request left this origin', '', foreign.join(' '));
  // Through the API server's proxy Authorization never arrives (nginx drops
  // it here as the API server does): the page sends X-Hugepaged-Token.
  check('the page never sends Authorization', '', withAuthorization.join(' '));
  checkTrue('… and sends its token as X-Hugepaged-Token', withTokenHeader > 5, String(withTokenHeader));
  // The refusals the steps above asked for, and no other: the reads before
  // the token and the malformed count.
  check('the only error answers are the expected ones',
    'GET config 401, GET config/history 401, GET sizes 401, GET status 401, POST validate 400', errorAnswers.sort().join(', '));
  check('no script error, no CSP violation', '', problems.join(' | '));
  await finish();
}

main().catch((e) => finish('unexpected: ' + (e && e.stack ? e.stack.split('\n').slice(0, 3).join(' / ') : e)));
