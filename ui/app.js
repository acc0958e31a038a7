// The node page of hugepaged: plain JS, no framework, no build step, nothing
// from the internet. Every URL is relative to the page, so the page works
// behind a reverse proxy under any prefix that ends in "/". The token is kept
// for this tab only (sessionStorage); the page itself holds no secret.
'use strict';

(function () {
  // A prefix without its final "/" ("…/proxy") makes every relative URL
  // point one level too high; when this script still loaded, add it.
  if (!location.pathname.endsWith('/')) {
    location.replace(location.pathname + '/' + location.search + location.hash);
    return;
  }

  const TOKEN_KEY = 'hugepaged.token';
  const $ = (id) => document.getElementById(id);
  const state = {
    sizes: null,      // GET sizes
    status: null,     // GET status
    history: null,    // GET config/history
    pending: null,    // {generation, deadlineMs, revertsTo}
    countdown: 0,     // interval id
    dialogAction: null,
    probeTimer: 0,
    lastFocus: null,
  };

  // --- small helpers -------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n, u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (u === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[u];
  }

  function num(n) {
    return n === null || n === undefined ? '–' : Number(n).toLocaleString('en');
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  // An API call: JSON in and out, the token when there is one. Resolves to
  // {ok, status, body, headers}; a problem document is in body.
  async function api(method, path, body, extraHeaders) {
    const headers = { Accept: 'application/json, application/problem+json' };
    const t = token();
    // Not Authorization: the Kubernetes API server's proxy removes it (and
    // would take it for a cluster credential); this header passes through.
    if (t) headers['X-Hugepaged-Token'] = t;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    Object.assign(headers, extraHeaders || {});
    let res;
    try {
      res = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      return { ok: false, status: 0, body: { title: 'No answer', detail: String(e) }, headers: new Headers() };
    }
    let parsed = null;
    const text = await res.text();
    try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { title: 'Not JSON', detail: text.slice(0, 300) }; }
    if (res.status === 401) askToken('The service wants a token (' + ((parsed && parsed.detail) || '401') + ').');
    return { ok: res.ok, status: res.status, body: parsed, headers: res.headers };
  }

  function problemText(r) {
    const b = r.body || {};
    return (r.status ? r.status + ' ' : '') + (b.title || 'Error') + (b.detail ? ': ' + b.detail : '');
  }

  // Builds a JSON body in which the page counts keep all their digits: a
  // field the operator typed as digits goes out as a JSON number however
  // long, anything else as a string for the service to refuse at its pointer.
  function jsonWithCounts(doc) {
    const marks = [];
    const text = JSON.stringify(doc, (k, v) => {
      if (v && typeof v === 'object' && v.__count !== undefined) {
        marks.push(v.__count);
        return '\u0000count' + (marks.length - 1) + '\u0000';
      }
      return v;
    });
    return text.replace(/"\\u0000count(\d+)\\u0000"/g, (m, i) => marks[Number(i)]);
  }

  function countValue(raw) {
    const s = raw.trim();
    return /^[0-9]+$/.test(s) ? { __count: s.replace(/^0+(?=\d)/, '') } : s;
  }

  // --- the token -------------------------------------------------------------

  function askToken(why) {
    $('token-msg').textContent = why;
    $('token').focus();
  }

  function setupToken() {
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      if (!t) { askToken('Enter the token (the file "token" in the state directory).'); return; }
      sessionStorage.setItem(TOKEN_KEY, t);
      $('token').value = '';
      $('token-msg').textContent = 'Token kept for this tab.';
      loadAll();
    });
    $('token-forget').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      $('token-msg').textContent = 'Token forgotten.';
    });
    if (token()) $('token-msg').textContent = 'Using the token kept for this tab.';
  }

  // --- status ------------------------------------------------------------------

  function renderStatus(s) {
    const box = $('status-body');
    box.replaceChildren();
    $('node-name').textContent = 'on ' + s.node_name;
    $('version').textContent = 'version ' + s.version;
    const dl = el('dl', { class: 'facts' });
    const fact = (k, v, cls) => dl.append(el('dt', { text: k }), el('dd', { class: cls, text: v }));
    fact('Desired generation', s.generation ? String(s.generation) : 'none (nothing set yet)');
    fact('Confirmed generation', s.confirmed_generation ? String(s.confirmed_generation) : 'none');
    fact('Kernel matches desired', s.in_sync ? 'yes' : 'no: drift below', s.in_sync ? 'good' : 'bad');
    if (s.last_apply) fact('Last apply', 'generation ' + s.last_apply.generation + ' at ' + s.last_apply.time +
      (s.last_apply.complete ? ', complete' : ', incomplete'), s.last_apply.complete ? '' : 'bad');
    if (s.safe_mode && s.safe_mode.active) fact('Safe mode', 'on (' + s.safe_mode.source + '): nothing is applied at boot', 'bad');
    if (s.kubelet) fact('kubelet', s.kubelet.stale ? 'stale: ' + (s.kubelet.reason || 'restart it to see the new pools') : 'up to date',
      s.kubelet.stale ? 'bad' : '');
    if (s.journal_recovery) fact('Journal', s.journal_recovery, 'bad');
    if (s.pending_confirm) fact('Awaiting confirmation', 'generation ' + s.pending_confirm.generation + ', reverts in ' +
      s.pending_confirm.seconds_left + ' s unless kept', 'bad');
    box.append(dl);

    if (s.drift && s.drift.length) {
      box.append(el('h3', { text: 'Drift: the kernel differs from the desired config' }),
        el('ul', { id: 'drift' }, s.drift.map((d) =>
          el('li', {}, el('code', { text: d.pointer }), ': desired ' + JSON.stringify(d.desired) + ', kernel ' + JSON.stringify(d.actual)))));
    }
    const reboot = (s.reboot_required || []).map((f) => el('li', {}, el('code', { text: f.pointer }), ' ' + f.message));
    if (s.boot_args && s.boot_args.reboot_required)
      for (const b of s.boot_args.reboot_required)
        reboot.push(el('li', {}, el('code', { text: b.pointer }), ' needs ', el('code', { text: b.wanted }), ' on the kernel command line'));
    if (s.boot_args && s.boot_args.error) reboot.push(el('li', { class: 'bad', text: 'Boot arguments not written: ' + s.boot_args.error }));
    if (reboot.length) box.append(el('h3', { text: 'Takes a reboot' }), el('ul', { id: 'reboot' }, reboot));
  }

  // --- sizes -------------------------------------------------------------------

  function renderSizes(k) {
    const tb = $('sizes-table').tBodies[0];
    tb.replaceChildren();
    for (const s of k.sizes) {
      const rt = s.runtime_allocation === 'yes' ? 'yes' : 'best effort (gigantic)';
      tb.append(el('tr', { class: 'size-row', 'data-size': s.size },
        el('th', { scope: 'row', text: s.size + (s.default ? ' (default)' : '') }), el('td', { text: 'all' }),
        el('td', { class: 'total', text: num(s.total) }), el('td', { class: 'free', text: num(s.free) }),
        el('td', { text: num(s.reserved) }), el('td', { text: num(s.surplus) }), el('td', { text: num(s.persistent) }),
        el('td', { text: num(s.limits && s.limits.max_pages) }), el('td', { text: rt })));
      for (const n of s.nodes || []) {
        tb.append(el('tr', { class: 'node-row', 'data-size': s.size, 'data-node': n.node },
          el('th', { scope: 'row', class: 'sub', text: s.size }), el('td', { text: 'node ' + n.node }),
          el('td', { class: 'total', text: num(n.total) }), el('td', { class: 'free', text: num(n.free) }),
          el('td', { text: '–' }), el('td', { text: num(n.surplus) }), el('td', { text: num(n.persistent) }),
          el('td', { text: num(n.max_pages) }), el('td', { text: '' })));
      }
    }
    const thp = k.transparent_hugepage || {};
    const words = Object.entries(thp).map(([name, v]) => name + ': ' + v.active);
    $('thp-now').textContent = words.length ? 'Transparent hugepages: ' + words.join(', ') + '.' : 'No transparent hugepage settings on this kernel.';
  }

  // --- the memory bar ----------------------------------------------------------

  function renderMemory(totalBytes, hugeBytes, reserveBytes, caption) {
    const total = Math.max(totalBytes, 1);
    const huge = Math.min(hugeBytes, total);
    const reserve = Math.min(reserveBytes, total - huge);
    const left = Math.max(total - huge - reserve, 0);
    const segs = $('memory-bar').children;
    const pct = (v) => (100 * v / total).toFixed(2) + '%';
    segs[0].style.width = pct(huge);
    segs[1].style.width = pct(reserve);
    segs[2].style.width = pct(left);
    const over = hugeBytes + reserveBytes > totalBytes;
    $('memory-bar').classList.toggle('over', over);
    const label = 'Hugepages ' + bytes(hugeBytes) + ', host reserve ' + bytes(reserveBytes) + ', left ' + bytes(left) +
      ' of ' + bytes(totalBytes) + (over ? ' (hugepages and the reserve exceed memory)' : '');
    $('memory-bar').setAttribute('aria-label', label);
    $('memory-caption').textContent = caption;
    $('memory-legend').replaceChildren(
      el('li', { class: 'huge' }, el('span', { class: 'swatch', 'aria-hidden': 'true' }), 'Hugepages ' + bytes(hugeBytes)),
      el('li', { class: 'reserve' }, el('span', { class: 'swatch', 'aria-hidden': 'true' }), 'Host reserve ' + bytes(reserveBytes)),
      el('li', { class: 'left' }, el('span', { class: 'swatch', 'aria-hidden': 'true' }), 'Left ' + bytes(left)),
      el('li', { text: 'Total ' + bytes(totalBytes) }));
  }

  // --- the config form -------------------------------------------------------

  // Every input that a finding's JSON pointer can name, by pointer.
  const fields = new Map();

  function messageEl(id) {
    return el('p', { id, class: 'field-msg', hidden: true });
  }

  function buildForm(k, desired) {
    const pools = $('pools');
    pools.replaceChildren();
    fields.clear();
    fields.set('/pools', { group: $('pools-group'), msg: $('err-pools'), inputs: () => activePoolInputs() });
    const dpools = (desired && desired.pools) || {};
    for (const s of k.sizes) {
      const d = dpools[s.size] || {};
      const id = 'pool-' + s.size;
      const perNode = d.nodes !== undefined && d.count === undefined;
      const count = el('input', { id: id + '-count', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false',
        value: d.count !== undefined ? String(d.count) : '', placeholder: 'not managed (now ' + s.persistent + ')',
        'aria-describedby': 'err-' + id + '-count ' + id + '-help' });
      const toggle = el('input', { type: 'checkbox', id: id + '-pernode', checked: perNode });
      const nodesBox = el('div', { class: 'nodes', id: id + '-nodes', hidden: !perNode });
      const nodeInputs = [];
      for (const n of s.nodes || []) {
        const nid = id + '-node-' + n.node;
        const v = d.nodes && d.nodes[String(n.node)] !== undefined ? String(d.nodes[String(n.node)]) : '';
        const inp = el('input', { id: nid, inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', value: v,
          placeholder: 'not managed (now ' + n.persistent + ')', 'aria-describedby': 'err-' + nid });
        nodeInputs.push(inp);
        nodesBox.append(el('div', { class: 'field' }, el('label', { for: nid, text: 'NUMA node ' + n.node + ' pages' }), inp, messageEl('err-' + nid)));
        fields.set('/pools/' + s.size + '/nodes/' + n.node, { input: inp, msg: null });
      }
      count.disabled = perNode;
      toggle.addEventListener('change', () => {
        nodesBox.hidden = !toggle.checked;
        count.disabled = toggle.checked;
      });
      const box = el('fieldset', { class: 'pool', id: id, 'aria-describedby': 'err-' + id },
        el('legend', { text: s.size + ' pages' + (s.gigantic ? ' (gigantic: run-time allocation is best effort)' : '') }),
        el('p', { id: id + '-help', class: 'muted', text: 'Now ' + s.persistent + ' persistent, ' + s.free + ' free; at most ' +
          (s.limits ? s.limits.max_pages : '?') + ' allowed.' }),
        el('div', { class: 'field' }, el('label', { for: id + '-count', text: 'Pages in total' }), count, messageEl('err-' + id + '-count')),
        el('div', { class: 'field check' }, toggle, el('label', { for: id + '-pernode', text: 'Set per NUMA node instead' })),
        nodesBox, messageEl('err-' + id));
      pools.append(box);
      fields.set('/pools/' + s.size + '/count', { input: count });
      fields.set('/pools/' + s.size + '/nodes', { input: nodeInputs[0], inputs: () => nodeInputs, msg: $('err-' + id) });
      fields.set('/pools/' + s.size, { group: box, msg: $('err-' + id), inputs: () => (toggle.checked ? nodeInputs : [count]) });
    }

    const ds = $('default-size');
    ds.replaceChildren(el('option', { value: '', text: 'not managed (now ' + k.default_size + ')' }),
      ...k.sizes.map((s) => el('option', { value: s.size, text: s.size, selected: desired && desired.default_size === s.size })));
    fields.set('/default_size', { input: ds, msg: $('err-default_size') });

    const thpBox = $('thp-fields');
    thpBox.replaceChildren();
    const dthp = (desired && desired.transparent_hugepage) || {};
    for (const [name, v] of Object.entries(k.transparent_hugepage || {})) {
      const id = 'thp-' + name;
      const sel = el('select', { id, 'aria-describedby': 'err-' + id, 'data-thp': name },
        el('option', { value: '', text: 'not managed (now ' + v.active + ')' }),
        v.choices.map((c) => el('option', { value: c, text: c, selected: dthp[name] === c })));
      thpBox.append(el('div', { class: 'field' }, el('label', { for: id, text: 'THP ' + name }), sel, messageEl('err-' + id)));
      fields.set('/transparent_hugepage/' + name, { input: sel });
    }
    fields.set('', { input: $('validate'), msg: $('err-root') });
  }

  function activePoolInputs() {
    const out = [];
    for (const box of $('pools').querySelectorAll('fieldset.pool')) {
      const perNode = box.querySelector('input[type=checkbox]').checked;
      const inputs = perNode ? box.querySelectorAll('.nodes input') : [box.querySelector('input[id$="-count"]')];
      for (const i of inputs) if (i.value.trim() !== '') out.push(i);
    }
    return out;
  }

  // The config document the form describes.
  function formConfig() {
    const doc = {};
    const pools = {};
    for (const s of state.sizes.sizes) {
      const id = 'pool-' + s.size;
      if ($(id + '-pernode').checked) {
        const nodes = {};
        for (const n of s.nodes || []) {
          const v = $(id + '-node-' + n.node).value;
          if (v.trim() !== '') nodes[String(n.node)] = countValue(v);
        }
        if (Object.keys(nodes).length) pools[s.size] = { nodes };
      } else {
        const v = $(id + '-count').value;
        if (v.trim() !== '') pools[s.size] = { count: countValue(v) };
      }
    }
    if (Object.keys(pools).length) doc.pools = pools;
    if ($('default-size').value) doc.default_size = $('default-size').value;
    const thp = {};
    for (const sel of $('thp-fields').querySelectorAll('select'))
      if (sel.value) thp[sel.dataset.thp] = sel.value;
    if (Object.keys(thp).length) doc.transparent_hugepage = thp;
    return doc;
  }

  function clearFindings() {
    for (const m of document.querySelectorAll('#config-form .field-msg')) { m.hidden = true; m.replaceChildren(); m.className = 'field-msg'; }
    for (const i of document.querySelectorAll('#config-form [aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  // Where a finding's pointer lands: the field itself, else the nearest
  // enclosing field the page knows.
  function fieldFor(pointer) {
    let p = pointer;
    for (;;) {
      if (fields.has(p)) return fields.get(p);
      if (p === '') return fields.get('');
      p = p.slice(0, p.lastIndexOf('/'));
    }
  }

  // Shows each finding at its field; returns the first element to focus.
  function showFindings(list, kind) {
    let first = null;
    for (const f of list || []) {
      const target = fieldFor(f.pointer);
      let msg = target.msg;
      if (!msg && target.input) msg = $('err-' + target.input.id);
      if (!msg) msg = $('err-root');
      msg.hidden = false;
      msg.classList.add(kind);
      msg.append(el('span', { class: 'finding', 'data-code': f.code, 'data-pointer': f.pointer },
        (kind === 'error' ? 'Error: ' : 'Warning: ') + f.message + ' ', el('code', { text: f.pointer || '(document)' })));
      if (kind === 'error') {
        const inputs = target.inputs ? target.inputs() : [target.input];
        for (const i of inputs) if (i && i.tagName !== 'BUTTON') i.setAttribute('aria-invalid', 'true');
        first = first || inputs.find((i) => i && !i.disabled) || target.input || null;
      }
    }
    return first;
  }

  async function validate() {
    clearFindings();
    $('apply-result').replaceChildren();
    const out = $('validate-result');
    out.textContent = 'Checking…';
    const doc = formConfig();
    const r = await api('POST', 'validate', jsonWithCounts(doc));
    out.replaceChildren();
    if (r.status !== 200 && r.status !== 400) {
      out.append(el('p', { class: 'bad', text: problemText(r) }));
      return null;
    }
    const b = r.body;
    const first = showFindings(b.errors, 'error');
    showFindings(b.warnings, 'warning');
    const valid = r.status === 200 && b.valid;
    const nErr = (b.errors || []).length;
    out.append(el('p', { id: 'validate-verdict', class: valid ? 'good' : 'bad',
      text: valid ? 'Valid: this configuration fits the node.' + ((b.warnings || []).length ? ' See the warnings.' : '')
        : (r.status === 400 ? 'Not a valid config document: ' : 'Does not fit this node: ') + nErr + ' error' + (nErr === 1 ? '' : 's') + ', shown at the fields.' }));
    if (b.memory) {
      out.append(el('p', { text: 'Hugepages would hold ' + bytes(b.memory.hugepages_bytes) + ' (now ' + bytes(b.memory.current_hugepages_bytes) +
        '); ' + bytes(b.memory.left_for_host_bytes) + ' left for the host, whose reserve is ' + bytes(b.memory.host_reserve_bytes) + '.' }));
      renderMemory(b.memory.total_bytes, b.memory.hugepages_bytes, b.memory.host_reserve_bytes, 'As proposed.');
    }
    if (b.reboot_required && b.reboot_required.length)
      out.append(el('p', { text: 'Takes a reboot:' }), el('ul', {}, b.reboot_required.map((f) => el('li', {}, el('code', { text: f.pointer }), ' ' + f.message))));
    if (first) first.focus();
    return { valid, doc };
  }

  // --- apply, the confirm window, keep and revert --------------------------

  function seconds() {
    const v = $('confirm-within').value.trim();
    return /^[1-9][0-9]*$/.test(v) && Number(v) <= 86400 ? Number(v) : null;
  }

  function openDialog(title, textNodes, goLabel, action) {
    const d = $('confirm-dialog');
    state.lastFocus = document.activeElement;
    state.dialogAction = action;
    $('confirm-h').textContent = title;
    $('confirm-text').replaceChildren(...textNodes);
    $('confirm-msg').textContent = '';
    $('confirm-countdown').textContent = '';
    $('confirm-go').textContent = goLabel;
    $('confirm-go').hidden = false;
    $('confirm-go').disabled = false;
    $('confirm-keep').hidden = true;
    $('confirm-revert').hidden = true;
    $('confirm-close').textContent = 'Cancel';
    if (!d.open) d.showModal();
    $('confirm-go').focus();
  }

  function closeDialog() {
    const d = $('confirm-dialog');
    clearInterval(state.countdown);
    if (d.open) d.close();
    if (state.lastFocus && state.lastFocus.focus) state.lastFocus.focus();
  }

  async function applyClicked() {
    const within = seconds();
    if (!within) {
      $('confirm-within').setAttribute('aria-invalid', 'true');
      $('validate-result').replaceChildren(el('p', { class: 'bad', text: 'The confirm window must be 1 to 86400 seconds.' }));
      $('confirm-within').focus();
      return;
    }
    $('confirm-within').removeAttribute('aria-invalid');
    const v = await validate();
    if (!v || !v.valid) return;
    const body = jsonWithCounts(v.doc);
    openDialog('Apply this configuration?', [
      el('p', { text: 'It is written to the kernel now. Unless you keep it within ' + within + ' seconds, hugepaged writes the old values back.' }),
      el('pre', { text: JSON.stringify(JSON.parse(body), null, 1) }),
      el('p', { class: 'warn', text: 'These choices may lower performance or make the node unusable; only testing with the real workload tells.' })],
    'Apply', () => change('PUT', 'config?confirm_within=' + within, body));
  }

  // PUT config or POST config/rollback, then the confirm window.
  async function change(method, path, body) {
    $('confirm-go').disabled = true;
    $('confirm-msg').textContent = 'Applying…';
    const gen = state.status ? state.status.generation : 0;
    const r = await api(method, path, body, { 'If-Match': '"' + gen + '"' });
    if (!r.ok) {
      $('confirm-msg').textContent = problemText(r);
      $('confirm-go').disabled = false;
      if (r.body && r.body.errors) showFindings(r.body.errors, 'error');
      return;
    }
    renderApplyResult(r.body);
    await loadAll();
    const p = state.status && state.status.pending_confirm;
    if (p) startCountdown(p);
    else {
      $('confirm-msg').textContent = 'Applied as generation ' + r.body.generation + '.';
      $('confirm-go').hidden = true;
      $('confirm-close').textContent = 'Close';
    }
  }

  function renderApplyResult(b) {
    const rows = (b.results || []).map((x) => el('tr', {},
      el('td', { text: x.size }), el('td', { text: x.node === null ? 'all' : 'node ' + x.node }), el('td', { text: num(x.requested) }),
      el('td', { text: num(x.before) }), el('td', { text: num(x.after) }), el('td', { class: x.status === 'ok' ? 'good' : 'bad', text: x.status + (x.error ? ': ' + x.error : '') })));
    const thp = (b.thp || []).map((x) => el('li', { class: x.status === 'ok' ? '' : 'bad', text: x.pointer + ': ' + x.before + ' → ' + x.after + ' (' + x.status + ')' }));
    $('apply-result').replaceChildren(
      el('h3', { text: 'Generation ' + b.generation + ': what the kernel did' + (b.complete ? '' : ' (not everything)') }),
      rows.length ? el('table', { id: 'apply-table' }, el('caption', { text: 'Pools, in the order written' }),
        el('thead', {}, el('tr', {}, ['Size', 'Node', 'Asked', 'Before', 'After', 'Outcome'].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, rows)) : el('p', { text: 'No pool was written.' }),
      ...(thp.length ? [el('ul', {}, thp)] : []));
  }

  function startCountdown(p) {
    state.pending = { generation: p.generation, deadlineMs: Date.now() + p.seconds_left * 1000, revertsTo: p.reverts_to };
    const d = $('confirm-dialog');
    if (!d.open) { state.lastFocus = document.activeElement; d.showModal(); }
    $('confirm-h').textContent = 'Keep generation ' + p.generation + '?';
    $('confirm-text').replaceChildren(el('p', { text: 'The change is on the node now. Check the node, then keep it, or revert it. ' +
      'Without an answer it is reverted at the deadline.' }));
    $('confirm-go').hidden = true;
    $('confirm-keep').hidden = false;
    $('confirm-revert').hidden = false;
    $('confirm-keep').disabled = false;
    $('confirm-revert').disabled = false;
    $('confirm-close').textContent = 'Close (decide later)';
    $('confirm-msg').textContent = '';
    clearInterval(state.countdown);
    const tick = () => {
      const left = Math.max(0, Math.round((state.pending.deadlineMs - Date.now()) / 1000));
      $('confirm-countdown').textContent = 'Reverts automatically in ' + left + ' s';
      if (left === 0) {
        // The service's watcher reverts it: wait until the status says so.
        clearInterval(state.countdown);
        $('confirm-keep').disabled = true;
        $('confirm-countdown').textContent = 'Deadline passed: reverting…';
        const poll = async () => {
          await loadAll();
          const now = state.status && state.status.pending_confirm;
          if (!now || now.generation !== p.generation) finishDialog('The deadline passed: generation ' + p.generation + ' was reverted.');
          else state.countdown = setTimeout(poll, 1000);
        };
        state.countdown = setTimeout(poll, 1000);
      }
    };
    tick();
    state.countdown = setInterval(tick, 500);
    $('confirm-keep').focus();
  }

  function finishDialog(text) {
    clearInterval(state.countdown);
    state.pending = null;
    $('confirm-countdown').textContent = '';
    $('confirm-msg').textContent = text;
    $('confirm-keep').hidden = true;
    $('confirm-revert').hidden = true;
    $('confirm-go').hidden = true;
    $('confirm-close').textContent = 'Close';
    $('confirm-close').focus();
  }

  async function keep() {
    if (!state.pending) return;
    $('confirm-keep').disabled = true;
    const g = state.pending.generation;
    const r = await api('POST', 'config/confirm', undefined, { 'If-Match': '"' + g + '"' });
    if (!r.ok) {
      $('confirm-msg').textContent = problemText(r);
      $('confirm-keep').disabled = false;
      return;
    }
    await loadAll();
    finishDialog('Kept: generation ' + g + ' is confirmed and will be applied at boot.');
  }

  // Revert now: POST /config/revert writes back what the pending change
  // replaced, as the deadline would.
  async function revert() {
    if (!state.pending) return;
    const p = state.pending;
    $('confirm-revert').disabled = true;
    $('confirm-keep').disabled = true;
    const r = await api('POST', 'config/revert', undefined, { 'If-Match': '"' + p.generation + '"' });
    if (r.ok) {
      await loadAll();
      finishDialog('Reverted: generation ' + r.body.reverted + ' is undone' +
        (r.body.generation ? ', generation ' + r.body.generation + ' is in force again.' : '; nothing was confirmed before it.'));
    } else {
      $('confirm-msg').textContent = problemText(r);
      $('confirm-revert').disabled = false;
      $('confirm-keep').disabled = false;
    }
  }

  function setupDialog() {
    $('confirm-go').addEventListener('click', () => state.dialogAction && state.dialogAction());
    $('confirm-keep').addEventListener('click', keep);
    $('confirm-revert').addEventListener('click', revert);
    $('confirm-close').addEventListener('click', closeDialog);
    $('confirm-dialog').addEventListener('close', () => clearInterval(state.countdown));
  }

  // --- history -------------------------------------------------------------------

  function summary(c) {
    if (!c) return 'none';
    const parts = [];
    for (const [size, p] of Object.entries(c.pools || {}))
      parts.push(size + ': ' + (p.count !== undefined ? p.count : Object.entries(p.nodes || {}).map(([n, v]) => 'node ' + n + ' ' + v).join(', ')));
    if (c.default_size) parts.push('default ' + c.default_size);
    for (const [k, v] of Object.entries(c.transparent_hugepage || {})) parts.push('THP ' + k + ' ' + v);
    return parts.join('; ') || '(empty)';
  }

  function renderHistory(h) {
    const tb = $('history-table').tBodies[0];
    tb.replaceChildren();
    if (!h.generations.length) {
      tb.append(el('tr', {}, el('td', { colspan: 7, text: 'No change yet.' })));
      return;
    }
    for (const g of h.generations) {
      const canRoll = !g.current && g.config;
      tb.append(el('tr', { 'data-generation': g.generation },
        el('th', { scope: 'row', text: String(g.generation) + (g.current ? ' (current)' : '') + (g.origin ? ', from ' + g.origin : '') }),
        el('td', { text: g.time }), el('td', { text: g.who }), el('td', { text: g.state }),
        el('td', { text: g.complete === null ? '–' : g.complete ? 'yes' : 'no' }), el('td', { text: summary(g.config) }),
        el('td', {}, canRoll ? el('button', { type: 'button', class: 'small', text: 'Roll back to ' + g.generation,
          onclick: () => rollbackClicked(g) }) : '')));
    }
  }

  function rollbackClicked(g) {
    const within = seconds();
    const body = JSON.stringify({ generation: g.generation });
    openDialog('Roll back to generation ' + g.generation + '?', [
      el('p', { text: 'Its config, checked against the node as it is today, is applied as a new generation' +
        (within ? ', reverted unless kept within ' + within + ' seconds.' : '.') }),
      el('pre', { text: JSON.stringify(g.config, null, 1) })],
    'Roll back', () => change('POST', 'config/rollback' + (within ? '?confirm_within=' + within : ''), body));
  }

  // --- the probe -----------------------------------------------------------------

  function setupProbe(k) {
    const box = $('probe-backings');
    for (const old of box.querySelectorAll('.field')) old.remove();
    const names = ['base', 'thp'].concat(k.sizes.map((s) => s.size));
    for (const b of names) {
      const id = 'probe-b-' + b;
      box.append(el('div', { class: 'field check' }, el('input', { type: 'checkbox', id, value: b, checked: b === 'base' || b === 'thp' || b === k.default_size }),
        el('label', { for: id, text: b === 'base' ? 'base pages' : b === 'thp' ? 'THP (madvise)' : b + ' hugetlb pages' })));
    }
  }

  async function startProbe(ev) {
    ev.preventDefault();
    clearTimeout(state.probeTimer);
    for (const id of ['err-probe-ws', 'err-probe-backings']) { $(id).hidden = true; $(id).textContent = ''; }
    $('probe-ws').removeAttribute('aria-invalid');
    const ws = $('probe-ws').value.split(',').map((s) => s.trim()).filter(Boolean);
    const backings = [...$('probe-backings').querySelectorAll('input:checked')].map((i) => i.value);
    const doc = { stride: $('probe-stride').value };
    if (ws.length) doc.working_sets = ws;
    if (backings.length) doc.backings = backings;
    $('probe-result').replaceChildren();
    $('probe-progress').textContent = 'Starting…';
    const r = await api('POST', 'probe', JSON.stringify(doc));
    if (r.status !== 202) {
      $('probe-progress').textContent = 'The probe did not start: ' + problemText(r);
      $('probe-progress').className = 'bad';
      for (const f of (r.body && r.body.errors) || []) {
        const target = f.pointer.startsWith('/working_sets') ? 'probe-ws' : f.pointer.startsWith('/backings') ? 'probe-backings' : null;
        if (!target) continue;
        $('err-' + target).hidden = false;
        $('err-' + target).append(el('span', { class: 'finding error' }, 'Error: ' + f.message + ' ', el('code', { text: f.pointer })));
        if (target === 'probe-ws') { $('probe-ws').setAttribute('aria-invalid', 'true'); $('probe-ws').focus(); }
      }
      // 409: one is running; show that one.
      if (r.status === 409 && r.headers.get('Location')) pollProbe(relative(r.headers.get('Location')));
      return;
    }
    $('probe-progress').className = '';
    pollProbe(relative(r.headers.get('Location') || r.body.location || 'probe/' + r.body.id));
  }

  // The service's Location is an absolute path ("/probe/3"); behind a
  // prefix it must stay under the page's own base.
  function relative(loc) {
    return loc.replace(/^\/+/, '');
  }

  async function pollProbe(path) {
    const r = await api('GET', path);
    if (!r.ok) {
      $('probe-progress').textContent = 'The probe cannot be read: ' + problemText(r);
      $('probe-progress').className = 'bad';
      return;
    }
    const b = r.body;
    const pr = b.progress || {};
    if (b.state === 'running') {
      $('probe-progress').textContent = 'Probe ' + b.id + ' running: ' + pr.phase + ' (' + pr.rounds_done + ' of ' + pr.rounds_total + ' rounds)';
      state.probeTimer = setTimeout(() => pollProbe(path), 500);
      return;
    }
    $('probe-progress').textContent = 'Probe ' + b.id + ' ' + b.state + (b.error ? ': ' + b.error : '') + '.';
    $('probe-progress').className = b.state === 'done' ? '' : 'bad';
    if (b.result) renderProbe(b.result);
  }

  function proofText(p) {
    if (!p) return 'none';
    const backed = p.mapped_bytes ? Math.round(100 * p.backed_bytes / p.mapped_bytes) : 0;
    const parts = [bytes(p.backed_bytes) + ' of ' + bytes(p.mapped_bytes) + ' backed (' + backed + ' %)', 'page ' + p.kernel_page_size_kb + ' KiB'];
    if (p.anon_huge_pages_kb) parts.push('AnonHugePages ' + bytes(p.anon_huge_pages_kb * 1024));
    if (p.private_hugetlb_kb || p.shared_hugetlb_kb) parts.push('hugetlb ' + bytes((p.private_hugetlb_kb + p.shared_hugetlb_kb) * 1024));
    if (!p.exact) parts.push('not exact');
    return parts.join(', ');
  }

  function renderProbe(res) {
    const ns = (v) => (typeof v === 'number' ? v.toFixed(2) + ' ns' : '–');
    const rows = res.results.map((x) => el('tr', { class: 'probe-row', 'data-status': x.status },
      el('th', { scope: 'row', text: x.working_set }), el('td', { text: x.backing }),
      el('td', { class: x.status === 'ok' ? 'good' : 'bad', text: x.status + (x.reason ? ': ' + x.reason : '') }),
      el('td', { text: ns(x.median_ns) }), el('td', { text: ns(x.min_ns) }), el('td', { text: ns(x.max_ns) }),
      el('td', { text: typeof x.ratio_to_base === 'number' ? x.ratio_to_base.toFixed(2) + '×' : '–' }),
      el('td', { text: proofText(x.proof) })));
    const notes = (res.notes || []).slice();
    if (res.machine && res.machine.counters_note) notes.push(res.machine.counters_note);
    $('probe-result').replaceChildren(
      el('table', { id: 'probe-table' },
        el('caption', { text: 'Time per dependent load (stride ' + res.stride + ', ' + res.rounds + ' rounds); ratio to base pages; how the memory was really backed' }),
        el('thead', {}, el('tr', {}, ['Working set', 'Backing', 'Outcome', 'Median', 'Min', 'Max', 'Ratio to base', 'Proof of backing']
          .map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, rows)),
      ...(notes.length ? [el('ul', { class: 'muted' }, notes.map((n) => el('li', { text: n })))] : []));
  }

  // --- loading -------------------------------------------------------------------

  async function loadAll() {
    const [sizes, status, history, config] = await Promise.all([
      api('GET', 'sizes'), api('GET', 'status'), api('GET', 'config/history'), api('GET', 'config')]);
    if (!sizes.ok) {
      $('status-body').replaceChildren(el('p', { class: 'bad', text: 'Cannot read the node: ' + problemText(sizes) }));
      return false;
    }
    const first = !state.sizes;
    state.sizes = sizes.body;
    renderSizes(sizes.body);
    renderMemory(sizes.body.memory.total_bytes, sizes.body.memory.hugepages_bytes, sizes.body.memory.host_reserve_bytes, 'Now.');
    if (status.ok) { state.status = status.body; renderStatus(status.body); }
    if (history.ok) { state.history = history.body; renderHistory(history.body); }
    if (first) {
      buildForm(sizes.body, config.ok && config.body ? config.body.config : null);
      setupProbe(sizes.body);
      const p = status.ok && status.body.pending_confirm;
      if (p) startCountdown(p);
    }
    document.body.dataset.loaded = 'true';
    return true;
  }

  function start() {
    $('boot-note').hidden = true;
    $('app').hidden = false;
    setupToken();
    setupDialog();
    $('config-form').addEventListener('submit', (ev) => { ev.preventDefault(); validate(); });
    $('apply').addEventListener('click', applyClicked);
    $('refresh').addEventListener('click', loadAll);
    $('probe-form').addEventListener('submit', startProbe);
    loadAll().then((ok) => { if (!ok && !token()) askToken('Enter the token to see this node.'); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
