// weir's live console. Polls /console/state every second and renders it.
//
// Rules this file keeps:
// - Server text (reasons, inputs, paths, errors) is user data: it only ever
//   reaches the page through textContent or attributes, never as HTML.
// - The hooks the browser test reads (data-stage, data-state, data-value,
//   data-plugin, data-sha, #letters [data-reason], #config, #token-form) are
//   part of the contract: keep them when changing the markup.
// - No dependencies beyond uPlot (vendored); no build step.
'use strict';

const POLL_MS = 1000;          // the page must be at most a second behind
const HISTORY_MAX = 600;       // 10 minutes of 1 s samples
const RATE_WINDOW_S = 5;       // counter rates are averaged over this long
const TOKEN_KEY = 'weir-admin-token';
const CHART_HEIGHT = 210;

const opened = Date.now();

// Everything the page remembers between polls.
const app = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  since: 0,                  // `at` of the newest history sample we hold
  lastOk: 0,                 // Date.now() of the last good poll
  waitingForToken: false,    // polling pauses while the token form is up
  polling: false,
  pollAgain: false,
  timer: 0,
  configLoaded: false,
  configLoading: false,
  status: null,
  snapshots: [],             // [{now, values: Map}] for counter rates
  history: {at: [], read: [], out: [], dead: [], commit: [], lag: [], last: null},
  charts: {},
  signatures: {},            // section -> JSON of what it last rendered
  cards: new Map(),          // plugin name -> card parts (keeps input and answer)
};

// ---------------------------------------------------------------------------
// DOM and formatting helpers

const $ = (sel) => document.querySelector(sel);

// el('td', {class: 'num', title: x}, child, 'text') — strings become text
// nodes, so nothing passed here is ever parsed as HTML.
function el(tag, props = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') Object.assign(e.style, v); // CSSOM: allowed under a strict CSP
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid != null && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}

function setText(id, text, title) {
  const e = document.getElementById(id);
  e.textContent = text;
  if (title !== undefined) e.title = title || '';
  return e;
}

// Re-renders a section only when its data changed, so text selections and
// expanded rows survive the once-a-second poll.
function changed(section, data) {
  const sig = JSON.stringify(data);
  if (app.signatures[section] === sig) return false;
  app.signatures[section] = sig;
  return true;
}

function table(headers, rows, cls) {
  return el('table', {class: cls},
    el('thead', {}, el('tr', {}, headers.map(([label, c]) => el('th', {class: c}, label)))),
    el('tbody', {}, rows));
}

function empty(text) {
  return el('p', {class: 'empty'}, text);
}

const isNum = (n) => typeof n === 'number' && Number.isFinite(n);

function fmtInt(n) {
  return isNum(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

// 1234 -> "1.23k": for rates and axis labels, where width matters.
function fmtCompact(n) {
  if (!isNum(n)) return '—';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toPrecision(3) + 'G';
  if (a >= 1e6) return (n / 1e6).toPrecision(3) + 'M';
  if (a >= 1e3) return (n / 1e3).toPrecision(3) + 'k';
  if (a >= 10 || n === 0) return String(Math.round(n));
  return n.toFixed(1);
}

const fmtRate = (r) => (isNum(r) ? fmtCompact(r) + '/s' : '—/s');

function fmtBytes(b) {
  if (!isNum(b)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i === 0 ? String(b) : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[i];
}

function fmtMs(ms) {
  if (!isNum(ms)) return '—';
  if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : 1) + ' ms';
  return fmtSeconds(ms / 1000);
}

// A duration in seconds, coarser as it grows: "4.2 s", "3m 12s", "2h 03m", "334d 5h".
function fmtSeconds(s) {
  if (!isNum(s)) return '—';
  const sign = s < 0 ? '−' : '';
  s = Math.abs(s);
  if (s < 60) return sign + (s < 10 && s !== 0 ? s.toFixed(1) : Math.round(s)) + ' s';
  const pad = (n) => String(Math.floor(n)).padStart(2, '0');
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${sign}${Math.floor(s / 3600)}h ${pad((s % 3600) / 60)}m`;
  if (s < 864000) return `${sign}${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  return `${sign}${Math.floor(s / 86400)}d`;
}

// Wall-clock times (seconds since the epoch) in the viewer's time zone.
function fmtClock(sec) {
  if (!isNum(sec)) return '—';
  return new Date(sec * 1000).toLocaleTimeString('en-GB', {hour12: false});
}

const isoOf = (sec) => (isNum(sec) ? new Date(sec * 1000).toISOString() : '');

// Event time (ms since the epoch) in UTC, as the data has it.
function fmtEventTime(ms) {
  if (!isNum(ms)) return '—';
  return new Date(ms).toISOString().replace('T', ' ').replace('.000Z', 'Z');
}

const shortSha = (sha, n = 12) => (sha ? sha.slice(0, n) : '—');

// A short SHA-256 with the full value in its title.
function shaSpan(sha, n) {
  return el('code', {class: 'sha', title: sha || ''}, shortSha(sha, n));
}

function pill(state, text) {
  return el('span', {class: 'pill', 'data-state': state}, text || state);
}

// ---------------------------------------------------------------------------
// Requests

// Every request carries the token when we have one; a 401 anywhere brings
// up the token form. The body is read here, whatever the status: an unread
// body would be cut off by the timeout and show up as a failed request.
async function api(path, options = {}) {
  const {timeoutMs = 10000, ...init} = options;
  const headers = {};
  if (app.token) headers.Authorization = `Bearer ${app.token}`;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {...init, headers, cache: 'no-store', signal: AbortSignal.timeout(timeoutMs)});
  const text = await res.text();
  if (res.status === 401) askForToken();
  return {ok: res.ok, status: res.status, statusText: res.statusText, text, json: () => JSON.parse(text)};
}

function askForToken() {
  app.waitingForToken = true;
  if (!app.status) {
    const state = $('#pipeline-state');
    state.textContent = 'token needed';
    state.dataset.state = 'stopped';
  }
  const form = $('#token-form');
  $('#token-error').textContent = app.token ? 'The server refused that token. Enter it again.' : '';
  if (form.hidden) {
    form.hidden = false;
    $('#token').value = '';
    $('#token').focus();
  }
}

function onTokenSubmit(event) {
  event.preventDefault();
  app.token = $('#token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, app.token);
  $('#token-form').hidden = true;
  $('#token-error').textContent = '';
  app.waitingForToken = false;
  app.configLoaded = false;
  pollNow();
}

// One poll at a time; pollNow() during a poll asks for another right after.
async function poll() {
  clearTimeout(app.timer);
  if (app.waitingForToken) return;
  if (app.polling) { app.pollAgain = true; return; }
  app.polling = true;
  const started = performance.now();
  let res = null;
  try {
    res = await api(`/console/state?since=${app.since}`);
  } catch (e) {
    noteTrouble(`cannot reach the server (${e.message})`);
  }
  app.polling = false;
  if (res && res.ok) {
    showState(res);
    if (!app.configLoaded) loadConfig();
  } else if (res && res.status !== 401) {
    noteTrouble(`the server answered ${res.status}: ${res.text.trim()}`);
  }
  if (app.waitingForToken) return;
  const wait = app.pollAgain ? 0 : Math.max(0, POLL_MS - (performance.now() - started));
  app.pollAgain = false;
  app.timer = setTimeout(poll, wait);
}

const pollNow = () => poll();

// A state the page cannot show is a bug here or in the server: say so in
// the console (the browser test collects console errors) and keep polling.
function showState(res) {
  try {
    render(res.json());
    app.lastOk = Date.now();
    tick();
  } catch (e) {
    console.error('weir console: cannot show this state:', e);
    noteTrouble(`cannot show the state (${e.message})`);
  }
}

function noteTrouble(text) {
  const e = $('#freshness');
  e.textContent = 'disconnected';
  e.title = text;
  e.classList.add('stale');
}

async function loadConfig() {
  if (app.configLoading) return;
  app.configLoading = true;
  try {
    const res = await api('/console/config');
    if (res.ok) {
      const config = res.json();
      setText('config-path', config.path || '');
      setText('config', config.text || '');
      app.configLoaded = true;
    } else if (res.status !== 401) {
      setText('config', `The configuration is not available: ${res.status} ${res.text.trim()}`);
      app.configLoaded = true; // not worth asking every second
    }
  } catch (e) {
    // Retried after the next good poll.
  } finally {
    app.configLoading = false;
  }
}

// ---------------------------------------------------------------------------
// Rendering: one entry point, one function per section

function render(data) {
  const st = data.status;
  app.status = st;
  app.skew = data.now - Date.now() / 1000; // the server's clock minus ours
  noteCounters(data.now, countersOf(st));
  addHistory(data.history || []);
  renderHeader(st);
  renderGraph(st);
  renderCharts();
  renderEventTime(st, data.now);
  renderCheckpoints(st.checkpoints);
  renderPlugins(st);
  renderLetters(st);
  document.body.dataset.loaded = '1';
}

// The counters whose rates the page shows (header and graph edges).
function countersOf(st) {
  const v = new Map([
    ['records_read', st.records_read], ['rows_out', st.rows_out], ['dead_lettered', st.dead_lettered],
  ]);
  for (const stage of stagesOf(st)) if (isNum(stage.inTotal)) v.set(stage.stage, stage.inTotal);
  return v;
}

// Keeps the snapshots of the last RATE_WINDOW_S seconds (plus one older).
function noteCounters(now, values) {
  const s = app.snapshots;
  if (s.length && now <= s[s.length - 1].now) return;
  s.push({now, values});
  while (s.length > 2 && now - s[1].now >= RATE_WINDOW_S) s.shift();
}

// Per second over the snapshot window; null until there are two, or when a
// counter went backwards (the pipeline restarted from a checkpoint).
function rateOf(key) {
  const s = app.snapshots;
  if (s.length < 2) return null;
  const a = s[0], b = s[s.length - 1];
  const va = a.values.get(key), vb = b.values.get(key);
  if (!isNum(va) || !isNum(vb) || vb < va) return null;
  return (vb - va) / (b.now - a.now);
}

function renderHeader(st) {
  setText('pipeline-name', st.pipeline || '(unnamed)');
  const state = $('#pipeline-state');
  state.textContent = st.state;
  state.dataset.state = st.state;
  setText('pipeline-source', st.source || '');
  setText('records-read', fmtInt(st.records_read)).dataset.value = isNum(st.records_read) ? String(st.records_read) : '';
  setText('rows-out', fmtInt(st.rows_out));
  setText('dead-lettered', fmtInt(st.dead_lettered)).classList.toggle('bad', st.dead_lettered > 0);
  setText('batches', fmtInt(st.batches));
  setText('records-read-rate', fmtRate(rateOf('records_read')));
  setText('rows-out-rate', fmtRate(rateOf('rows_out')));
  setText('dead-lettered-rate', fmtRate(rateOf('dead_lettered')));
  document.title = `${st.pipeline || 'weir'} · ${st.state} — weir console`;
}

const wholeSeconds = (s) => fmtSeconds(s).replace(/\.\d s$/, ' s');

// Page uptime, freshness and "… ago" texts tick on their own, between polls too.
function tick() {
  setText('uptime', wholeSeconds((Date.now() - opened) / 1000));
  const serverNow = Date.now() / 1000 + (app.skew || 0);
  for (const e of document.querySelectorAll('[data-ago]')) {
    e.textContent = `(${wholeSeconds(Math.max(0, serverNow - Number(e.dataset.ago)))} ago)`;
  }
  if (!app.lastOk) return;
  const age = (Date.now() - app.lastOk) / 1000;
  const e = $('#freshness');
  if (age < 3) {
    e.textContent = 'live';
    e.title = 'updated every second';
    e.classList.remove('stale');
  } else if (e.textContent !== 'disconnected') {
    e.textContent = `updated ${Math.round(age)} s ago`;
    e.classList.add('stale');
  }
}

// ---------------------------------------------------------------------------
// The pipeline graph

// A stage's state. While the pipeline retries or after it failed, the
// stage the last failure names shows it and the others wait (or stopped);
// a failure naming no stage shows on every one. A plugin fresh from a
// reload is on probation.
function stageState(st, plugin, stage) {
  if (st.state === 'retrying' || st.state === 'failed') {
    const failures = (st.checkpoints && st.checkpoints.failures) || [];
    const last = failures[failures.length - 1];
    const failed = last && last.stage;
    if (!failed || !stage) return st.state;
    // A transform's failure names it `transform:NAME`, before the window or after.
    const named = failed === stage || failed === stage.replace(/^after_window:/, 'transform:');
    if (named) return st.state;
    return st.state === 'failed' ? 'stopped' : 'waiting';
  }
  if (st.state !== 'running') return st.state;
  return plugin && plugin.probation_batches_left != null ? 'probation' : 'running';
}

// The stages in flow order, each with what arrives on its incoming edge
// (inTotal) and what it dead-lettered. The dead-letter node comes last.
function stagesOf(st) {
  const plugins = new Map((st.plugins || []).map((p) => [`${p.stage}:${p.name}`, p]));
  const stages = [];
  const progress = st.progress || {};
  const lag = (progress.partitions || []).reduce((sum, p) => (isNum(p.lag) ? (sum ?? 0) + p.lag : sum), null);
  stages.push({
    stage: 'source', kind: 'source', name: st.source || 'source', state: stageState(st, null, 'source'),
    facts: [
      ['batches', fmtInt(st.batches)],
      progress.files ? ['files', `${fmtInt(progress.files.done)} / ${fmtInt(progress.files.total)}`] : null,
      lag != null ? ['Kafka lag', fmtInt(lag)] : null,
    ],
    dead: st.decode_dead_lettered, deadNote: 'undecodable',
  });
  // Two sources joined by an interval join: one node, its sides' rows in.
  const ij = st.interval_join;
  if (ij) {
    const late = (ij.late_dropped || 0) + (ij.late_dead_lettered || 0);
    const stage = `join:${ij.name}`;
    stages.push({
      stage, kind: 'interval join', name: ij.name, state: stageState(st, null, stage),
      inTotal: (ij.rows_in[0] || 0) + (ij.rows_in[1] || 0), inLabel: 'rows',
      facts: [
        [ij.sources[0], fmtInt(ij.rows_in[0])],
        [ij.sources[1], fmtInt(ij.rows_in[1])],
        ['out', fmtInt(ij.rows_out)],
        ['held', fmtInt((ij.held_left || 0) + (ij.held_right || 0))],
        ij.waiting ? ['waiting', fmtInt(ij.waiting)] : null,
        late ? ['late', fmtInt(late), 'warn'] : null,
      ],
      dead: (ij.late_dead_lettered || 0) + (ij.untimed || 0), deadNote: 'late',
    });
  }
  const transform = (t, stage, kind) => {
    const plugin = plugins.get(`${stage}:${t.name}`);
    const probation = plugin && plugin.probation_batches_left;
    // A stream–table join counts as a transform does, marked `kind: join`.
    const join = t.kind === 'join';
    const name = join ? `join:${t.name}` : `${stage === 'transforms' ? 'transform' : 'after_window'}:${t.name}`;
    return {
      stage: name, kind: join ? 'join' : kind, name: t.name,
      state: stageState(st, plugin, name), inTotal: t.rows_in, inLabel: 'rows',
      facts: [
        ['out', fmtInt(t.rows_out)],
        t.filtered ? ['filtered', fmtInt(t.filtered)] : null,
        t.expanded ? ['expanded', fmtInt(t.expanded)] : null,
        t.failed_batches ? ['failed batches', fmtInt(t.failed_batches), 'bad'] : null,
        probation != null ? ['probation', `${fmtInt(probation)} left`, 'warn'] : null,
      ],
      dead: t.dead_lettered,
    };
  };
  for (const t of st.transforms || []) stages.push(transform(t, 'transforms', 'transform'));
  const w = st.window;
  if (w) {
    stages.push({
      stage: 'window', kind: 'window', name: w.kind, state: stageState(st, null, 'window'), inTotal: w.rows_in, inLabel: 'rows',
      facts: [
        ['out', fmtInt(w.rows_out)],
        ['open groups', fmtInt(w.open_groups)],
        (w.late_dropped || 0) + (w.late_dead_lettered || 0) ? ['late', fmtInt((w.late_dropped || 0) + (w.late_dead_lettered || 0)), 'warn'] : null,
        ['watermark', isNum(w.watermark_ms) ? fmtEventTime(w.watermark_ms).slice(11, 19) : '—'],
      ],
      dead: w.late_dead_lettered, deadNote: 'late',
    });
  }
  for (const t of st.after_window || []) stages.push(transform(t, 'after_window', 'after window'));
  for (const s of st.sinks || []) {
    stages.push({
      stage: `sink:${s.name}`, kind: 'sink', name: s.name, state: stageState(st, null, `sink:${s.name}`), inTotal: s.rows, inLabel: 'written',
      facts: [['target', s.target, 'path']], dead: s.dead_lettered, sink: true,
    });
  }
  stages.push({
    stage: 'dead_letter', kind: 'dead letters', name: st.dead_letter_target || 'dead letters', state: stageState(st, null, 'dead_letter'),
    inTotal: st.dead_lettered, facts: [], deadLetter: true,
  });
  return stages;
}

function renderGraph(st) {
  const stages = stagesOf(st);
  const chain = stages.filter((s) => !s.sink && !s.deadLetter);
  const sinks = stages.filter((s) => s.sink);
  const dlq = stages.find((s) => s.deadLetter);

  const flow = el('div', {class: 'flow'});
  chain.forEach((s, i) => {
    if (i > 0) flow.append(edge(s));
    flow.append(node(s));
  });
  if (sinks.length > 1) flow.append(el('div', {class: 'stub'}));
  flow.append(el('div', {class: 'fanout' + (sinks.length > 1 ? ' multi' : '')}, sinks.map((s) => el('div', {class: 'branch'}, edge(s), node(s)))));

  $('#graph').replaceChildren(flow, deadLetterRow(dlq, stages));
}

function node(s) {
  return el('div', {class: `node kind-${s.kind.replace(' ', '-')}`, 'data-stage': s.stage, 'data-state': s.state},
    el('div', {class: 'node-head'}, el('span', {class: 'node-kind', title: s.kind}, s.kind), pill(s.state)),
    el('div', {class: 'node-name', title: s.name}, s.name),
    el('dl', {class: 'node-facts'}, s.facts.filter(Boolean).map(([k, v, c]) =>
      el('div', {class: c}, el('dt', {}, k), el('dd', {title: c === 'path' ? v : null}, v)))),
    s.dead > 0 ? el('div', {class: 'node-dead'}, [fmtInt(s.dead), s.deadNote, 'dead-lettered'].filter(Boolean).join(' ')) : null);
}

// An arrow labelled with the rate above and the total below.
function edge(s) {
  return el('div', {class: 'edge', title: `${fmtInt(s.inTotal)} ${s.inLabel} into ${s.stage}`},
    el('span', {class: 'edge-rate'}, fmtRate(rateOf(s.stage))),
    el('span', {class: 'edge-line'}),
    el('span', {class: 'edge-total'}, fmtInt(s.inTotal)));
}

// The dead-letter sink, fed by every stage that can refuse a row.
function deadLetterRow(dlq, stages) {
  const feeds = stages.filter((s) => s.dead > 0);
  return el('div', {class: 'dlq-row'},
    el('div', {class: 'dlq-feeds'},
      el('span', {class: 'muted'}, feeds.length ? 'refused rows from ' : 'no refused rows yet'),
      feeds.map((s) => el('span', {class: 'chip'}, `${s.stage} ${fmtInt(s.dead)}`))),
    el('div', {class: 'edge edge-down'},
      el('span', {class: 'edge-rate'}, fmtRate(rateOf('dead_letter'))),
      el('span', {class: 'edge-line'}),
      el('span', {class: 'edge-total'}, fmtInt(dlq.inTotal))),
    node(dlq));
}

// ---------------------------------------------------------------------------
// Charts (uPlot)

// Appends the samples newer than the ones held; rates are differences
// between consecutive samples over the time between them.
function addHistory(samples) {
  const h = app.history;
  for (const s of samples) {
    if (!isNum(s.at) || s.at <= app.since) continue;
    const prev = h.last;
    const rate = (key) => {
      if (!prev) return null;
      const dt = s.at - prev.at, d = s[key] - prev[key];
      return dt > 0 && isNum(d) && d >= 0 ? d / dt : null;
    };
    h.at.push(s.at);
    h.read.push(rate('records_read'));
    h.out.push(rate('rows_out'));
    h.dead.push(rate('dead_lettered'));
    h.commit.push(isNum(s.commit_ms) ? s.commit_ms : null);
    h.lag.push(isNum(s.watermark_ms) ? (s.at * 1000 - s.watermark_ms) / 1000 : null);
    h.last = s;
    app.since = s.at;
  }
  const extra = h.at.length - HISTORY_MAX;
  if (extra > 0) for (const k of ['at', 'read', 'out', 'dead', 'commit', 'lag']) h[k].splice(0, extra);
}

// The last ten minutes at most, and never a zero-width range.
function xRange(u, min, max) {
  if (!isNum(min) || !isNum(max)) { const now = Date.now() / 1000; return [now - 60, now]; }
  return [Math.max(min, max - HISTORY_MAX), Math.max(max, min + 10)];
}

// From zero up, with some head room.
function yRange(u, min, max) {
  return [0, isNum(max) && max > 0 ? max * 1.1 : 1];
}

// The legend reads the point under the cursor, or the newest value when
// the cursor is elsewhere, so it doubles as a live read-out.
function legendValue(format) {
  return (u, v, sidx, idx) => {
    if (idx == null) v = newest(u.data[sidx]);
    return v == null ? '—' : format(v);
  };
}

function newest(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
  return null;
}

function series(label, stroke, format, scale) {
  const s = {label, stroke, width: 1.5, points: {show: false}, value: legendValue(format)};
  if (scale) s.scale = scale; // an explicit undefined would detach the series from 'y'
  return s;
}

function axis(format, extra = {}) {
  return {size: 70, stroke: '#5b6472', grid: {stroke: '#eceff3'}, ticks: {stroke: '#dfe3e8'},
    values: (u, splits) => splits.map(format), ...extra};
}

function makeCharts() {
  if (typeof uPlot === 'undefined') {
    for (const id of ['chart-throughput', 'chart-latency']) $('#' + id).append(empty('uPlot did not load.'));
    return;
  }
  const time = {stroke: '#5b6472', grid: {stroke: '#eceff3'}, ticks: {stroke: '#dfe3e8'}};
  const x = {label: 'time', value: (u, v, sidx, idx) => (idx == null ? 'now' : fmtClock(v))};
  app.charts.throughput = chart('chart-throughput', {
    series: [x, series('records read', '#2563eb', fmtRate), series('rows out', '#16a34a', fmtRate), series('dead-lettered', '#dc2626', fmtRate, 'dead')],
    // Dead letters get an axis of their own: a few a second would be a flat
    // line at the bottom of the records' scale.
    scales: {x: {time: true, range: xRange}, y: {range: yRange}, dead: {range: yRange}},
    axes: [time, axis(fmtCompact), axis(fmtCompact, {scale: 'dead', side: 1, grid: {show: false}, stroke: '#b91c1c'})],
  });
  app.charts.latency = chart('chart-latency', {
    series: [x, series('commit', '#7c3aed', fmtMs, 'ms'), series('event-time lag', '#d97706', fmtSeconds, 's')],
    scales: {x: {time: true, range: xRange}, ms: {range: yRange}, s: {range: yRange}},
    axes: [time, axis((v) => (v < 1000 ? `${+v.toFixed(1)} ms` : fmtSeconds(v / 1000)), {scale: 'ms'}),
      axis(fmtSeconds, {scale: 's', side: 1, grid: {show: false}})],
  });
}

function chart(id, opts) {
  const target = document.getElementById(id);
  const width = () => Math.max(200, target.clientWidth);
  const u = new uPlot({width: width(), height: CHART_HEIGHT, cursor: {drag: {x: false, y: false}}, legend: {live: true}, ...opts},
    [[], ...opts.series.slice(1).map(() => [])], target);
  new ResizeObserver(() => { if (u.width !== width()) u.setSize({width: width(), height: CHART_HEIGHT}); }).observe(target);
  return u;
}

function renderCharts() {
  const h = app.history, c = app.charts;
  if (c.throughput) refresh(c.throughput, [h.at, h.read, h.out, h.dead]);
  if (c.latency) refresh(c.latency, [h.at, h.commit, h.lag]);
}

// uPlot leaves the legend alone on new data while the cursor is away;
// ask it again so the read-out shows the newest values.
function refresh(u, data) {
  u.setData(data);
  if (u.cursor.idx == null) u.setLegend({idx: null});
}

// ---------------------------------------------------------------------------
// Event time

function renderEventTime(st, now) {
  const w = st.window;
  const wm = w && isNum(w.watermark_ms) ? w.watermark_ms : null;
  const e = setText('watermark', wm != null ? fmtEventTime(wm) : (st.watermark || '—'), st.watermark || '');
  e.dataset.value = wm != null ? String(wm) : '';
  setText('event-lag', wm != null ? `${fmtSeconds(now - wm / 1000)} behind the clock` : '—');
  const late = w ? (w.late_dropped || 0) + (w.late_dead_lettered || 0) : null;
  setText('late-rows', w ? `${fmtInt(late)} (${fmtInt(w.late_dropped)} dropped, ${fmtInt(w.late_dead_lettered)} to dead letters)` : '—')
    .classList.toggle('warn', late > 0);
  setText('window-kind', w ? w.kind : 'no window');
  setText('open-groups', w ? fmtInt(w.open_groups) : '—');
  setText('untimed', w ? fmtInt(w.untimed) : '—');
  renderPartitionWatermarks(w);
  renderSourceProgress(st.progress || {});
}

function renderPartitionWatermarks(w) {
  const parts = (w && w.partitions) || [];
  if (!changed('partitions', parts)) return;
  const newest = Math.max(...parts.map((p) => p.watermark_ms).filter(isNum));
  $('#partition-watermarks').replaceChildren(parts.length
    ? table([['partition'], ['watermark'], ['behind', 'num']], parts.map((p) =>
      el('tr', {}, el('td', {}, fmtInt(p.partition)), el('td', {class: 'nowrap'}, fmtEventTime(p.watermark_ms)),
        el('td', {class: 'num'}, isNum(p.watermark_ms) ? fmtSeconds((newest - p.watermark_ms) / 1000) : '—'))))
    : empty(w ? 'One watermark for the whole source.' : 'No window: this pipeline has no event time.'));
}

function renderSourceProgress(progress) {
  if (!changed('progress', progress)) return;
  const out = [];
  if (progress.files) out.push(bar('files', progress.files.done, progress.files.total, fmtInt));
  if (progress.bytes) out.push(bar('bytes', progress.bytes.done, progress.bytes.total, fmtBytes));
  const parts = progress.partitions || [];
  if (parts.length) {
    out.push(table([['topic'], ['partition', 'num'], ['start', 'num'], ['next', 'num'], ['end', 'num'], ['lag', 'num']], parts.map((p) =>
      el('tr', {}, el('td', {}, p.topic), el('td', {class: 'num'}, fmtInt(p.partition)), el('td', {class: 'num'}, fmtInt(p.start)),
        el('td', {class: 'num'}, fmtInt(p.next)), el('td', {class: 'num'}, p.end == null ? 'open' : fmtInt(p.end)),
        el('td', {class: 'num' + (p.lag > 0 ? ' warn' : '')}, p.lag == null ? '—' : fmtInt(p.lag))))));
  }
  $('#source-progress').replaceChildren(...(out.length ? out : [empty('The source reports no progress.')]));
}

function bar(label, done, total, format) {
  const pct = isNum(done) && isNum(total) && total > 0 ? Math.min(100, (100 * done) / total) : null;
  return el('div', {class: 'progress'},
    el('div', {class: 'progress-label'}, el('span', {}, label), el('span', {}, `${format(done)} / ${isNum(total) ? format(total) : '?'}`)),
    el('div', {class: 'progress-track'}, el('div', {class: 'progress-fill', style: {width: `${pct ?? 0}%`}})));
}

// ---------------------------------------------------------------------------
// Checkpoints

function renderCheckpoints(cp) {
  cp = cp || {epochs: [], failures: [], restarts: 0};
  if (!changed('checkpoints', cp)) return;
  const epochs = (cp.epochs || []).slice().reverse(); // newest first
  const failures = cp.failures || [];
  const failure = failures[failures.length - 1];
  const summary = el('div', {class: 'summary'},
    el('span', {}, 'restarts ', el('b', {class: cp.restarts > 0 ? 'warn' : null}, fmtInt(cp.restarts))),
    el('span', {}, 'last epoch ', el('b', {}, epochs.length ? fmtInt(epochs[0].epoch) : '—')),
    el('span', {}, 'last commit ', el('b', {}, epochs.length ? fmtClock(epochs[0].at) : '—')));
  const last = failure
    ? el('div', {class: 'failure'},
      el('div', {}, el('b', {}, `Last failure, epoch ${fmtInt(failure.epoch)}`), ' at ', el('time', {title: isoOf(failure.at)}, fmtClock(failure.at)),
        ' ', el('span', {class: 'muted', 'data-ago': failure.at})),
      el('div', {class: 'failure-error'}, failure.error),
      el('div', {class: 'muted'}, failure.action))
    : null;
  const rows = epochs.map((e) => el('tr', {},
    el('td', {class: 'num'}, fmtInt(e.epoch)),
    el('td', {title: isoOf(e.at)}, fmtClock(e.at)),
    el('td', {class: 'num'}, fmtMs(e.ran_ms)),
    el('td', {class: 'num'}, fmtMs(e.commit_ms)),
    el('td', {class: 'num'}, e.checkpoint_bytes == null ? '—' : fmtBytes(e.checkpoint_bytes)),
    el('td', {class: 'num'}, fmtInt(e.batches)),
    el('td', {class: 'num'}, fmtInt(e.records)),
    el('td', {class: 'position', title: e.source}, e.source),
    el('td', {}, (e.committed || []).map((c) => el('span', {class: 'chip'}, c))),
    el('td', {}, e.replayed ? pill('retrying', 'replayed') : el('span', {class: 'muted'}, 'no'))));
  // The restart log: every failure the journal keeps, newest first.
  const restarts = failures.slice().reverse().map((f) => el('tr', {'data-failure': f.epoch, 'data-stage': f.stage || '', 'data-action': f.action},
    el('td', {class: 'num'}, fmtInt(f.epoch)),
    el('td', {title: isoOf(f.at)}, fmtClock(f.at)),
    el('td', {}, f.stage || '—'),
    el('td', {class: 'failure-error', title: f.error}, f.error),
    el('td', {}, f.action)));
  const log = restarts.length
    ? el('details', {class: 'restart-log'}, el('summary', {}, `Restart log (${fmtInt(restarts.length)})`),
      el('div', {class: 'scroll'}, table([['epoch', 'num'], ['at'], ['stage'], ['error'], ['then']], restarts, 'restarts')))
    : null;
  $('#checkpoints').replaceChildren(summary, ...(last ? [last] : []), ...(log ? [log] : []), rows.length
    ? el('div', {class: 'scroll'}, table([['epoch', 'num'], ['at'], ['ran', 'num'], ['commit', 'num'], ['size', 'num'], ['batches', 'num'],
      ['records', 'num'], ['source position'], ['committed'], ['replayed']], rows, 'epochs'))
    : empty('No checkpoint yet.'));
}

// ---------------------------------------------------------------------------
// Plugins

function renderPlugins(st) {
  const container = $('#plugins');
  const plugins = st.plugins || [];
  const seen = new Set();
  const order = [];
  for (const p of plugins) {
    seen.add(p.name);
    let card = app.cards.get(p.name);
    if (!card) { card = pluginCard(p.name); app.cards.set(p.name, card); }
    updatePluginCard(card, p, (st.reloads || []).filter((r) => r.plugin === p.name));
    order.push(card.root);
  }
  for (const [name, card] of app.cards) if (!seen.has(name)) { card.root.remove(); app.cards.delete(name); }
  const sinks = st.sink_builds || [];
  if (changed('sinks', sinks)) {
    for (const old of app.sinkCards || []) old.remove();
    app.sinkCards = sinks.map(sinkCard);
  }
  order.push(...app.sinkCards);
  app.noPlugins = app.noPlugins || empty('This pipeline has no plugins.');
  if (!order.length) order.push(app.noPlugins);
  else app.noPlugins.remove();
  order.forEach((e, i) => placeAt(container, e, i));
}

// Moves a child only when it is out of place: moving the card one is typing
// in would take the focus away from its path field.
function placeAt(container, child, index) {
  if (container.children[index] !== child) container.insertBefore(child, container.children[index] || null);
}

// A transform plugin's card: built once, then updated in place so the path
// field and the last answer survive polls.
function pluginCard(name) {
  const c = {};
  c.stage = el('span', {class: 'node-kind'});
  c.state = pill('running');
  c.build = el('dl', {class: 'build'});
  c.stats = el('dl', {class: 'stats'});
  c.history = el('div', {class: 'history'});
  c.path = el('input', {type: 'text', class: 'path', 'aria-label': `path of a new build of ${name}`, placeholder: 'path (optional)',
    title: 'A new build to load; leave empty to reload the plugin\'s own file.'});
  c.reload = el('button', {type: 'button', class: 'reload', onclick: () => act(name, 'reload', c)}, 'Reload');
  c.rollback = el('button', {type: 'button', class: 'rollback secondary', onclick: () => act(name, 'rollback', c)}, 'Roll back');
  c.answer = el('div', {class: 'answer', 'aria-live': 'polite'});
  c.root = el('article', {class: 'plugin', 'data-plugin': name},
    el('header', {}, el('h3', {}, name), c.stage, c.state),
    c.build, c.stats, c.history,
    el('div', {class: 'actions'}, c.path, c.reload, c.rollback), c.answer);
  return c;
}

function updatePluginCard(c, p, reloads) {
  const v = p.version || {};
  c.root.dataset.sha = v.sha256 || '';
  c.stage.textContent = p.stage === 'after_window' ? 'after window' : 'transform';
  const probation = p.probation_batches_left;
  const state = stageState(app.status, p, `${p.stage === "transforms" ? "transform" : "after_window"}:${p.name}`);
  c.state.dataset.state = state;
  c.state.textContent = probation != null ? `probation · ${probation} left` : state;
  if (changed(`build:${p.name}`, v)) c.build.replaceChildren(...buildFacts(v));
  const s = p.stats || {};
  c.stats.replaceChildren(...[
    ['calls', fmtInt(s.calls)], ['busy', fmtSeconds(s.busy_seconds)], ['memory', fmtBytes(s.memory_bytes)],
    ['state', fmtBytes(s.state_bytes)], ['rows in', fmtInt(s.rows_in)], ['rows out', fmtInt(s.rows_out)],
    ['traps', fmtInt(s.traps), s.traps > 0 && 'bad'], ['interruptions', fmtInt(s.interruptions), s.interruptions > 0 && 'bad'],
    ['failed batches', fmtInt(s.failed_batches), s.failed_batches > 0 && 'bad'],
    ['state refusals', fmtInt(s.state_refusals), s.state_refusals > 0 && 'warn'], ['logs dropped', fmtInt(s.logs_dropped), s.logs_dropped > 0 && 'warn'],
  ].map(([k, val, cls]) => el('div', {class: cls || null}, el('dt', {}, k), el('dd', {}, val))));
  if (changed(`reloads:${p.name}`, reloads)) c.history.replaceChildren(reloadHistory(reloads));
}

function buildFacts(v) {
  return [
    el('div', {}, el('dt', {}, 'path'), el('dd', {class: 'mono', title: v.path || ''}, v.path || '—')),
    el('div', {}, el('dt', {}, 'sha-256'), el('dd', {}, shaSpan(v.sha256))),
    el('div', {}, el('dt', {}, 'contract'), el('dd', {}, v.contract || '—')),
  ];
}

const OUTCOME_STATE = {swapped: 'probation', trusted: 'running', refused: 'failed', 'rolled-back': 'retrying'};

// Newest first; the last five are enough on a card.
function reloadHistory(reloads) {
  if (!reloads.length) return empty('Never reloaded.');
  return el('ol', {class: 'reloads'}, reloads.slice(-5).reverse().map((r) => el('li', {},
    el('time', {title: isoOf(r.at)}, fmtClock(r.at)),
    pill(OUTCOME_STATE[r.outcome] || 'stopped', r.outcome),
    el('span', {class: 'mono'}, shaSpan(r.from_sha256, 8), ' → ', shaSpan(r.to_sha256, 8)),
    el('span', {class: 'detail', title: r.detail || ''}, r.detail || ''))));
}

// Sink builds are shown, not reloaded (reloads are for transforms).
function sinkCard(b) {
  const v = b.version;
  return el('article', {class: 'plugin sink', 'data-sink': b.name},
    el('header', {}, el('h3', {}, b.name), el('span', {class: 'node-kind'}, 'sink'), el('span', {class: 'chip'}, b.kind)),
    v ? el('dl', {class: 'build'}, buildFacts(v)) : el('p', {class: 'muted'}, 'Built into weir.'),
    el('p', {class: 'muted small'}, 'Sinks are not reloaded while running.'));
}

// POSTs a reload or a rollback and says what happened next to the buttons.
async function act(name, action, card) {
  const path = card.path.value.trim();
  const body = action === 'reload' && path ? {path} : {};
  card.reload.disabled = card.rollback.disabled = true;
  say(card, 'pending', action === 'reload' ? 'Reloading at the next batch boundary…' : 'Rolling back at the next batch boundary…');
  try {
    const res = await api(`/plugins/${encodeURIComponent(name)}/${action}`, {method: 'POST', body: JSON.stringify(body), timeoutMs: 90000});
    if (res.ok) {
      const r = res.json();
      const probation = isNum(r.probation_batches) && r.probation_batches > 0 ? `; on probation for ${r.probation_batches} batches` : '';
      say(card, 'ok', `${action === 'reload' ? 'Reloaded' : 'Rolled back'}: ${shortSha(r.from_sha256)} → ${shortSha(r.to_sha256)}${probation}`,
        `from ${r.from_sha256}\nto ${r.to_sha256}`);
      pollNow();
    } else {
      say(card, 'error', `${res.status}: ${res.text.trim() || res.statusText}`);
    }
  } catch (e) {
    say(card, 'error', `The request failed: ${e.message}`);
  } finally {
    card.reload.disabled = card.rollback.disabled = false;
  }
}

function say(card, kind, text, title) {
  card.answer.dataset.kind = kind;
  card.answer.textContent = text;
  card.answer.title = title || '';
}

// ---------------------------------------------------------------------------
// Dead letters

function renderLetters(st) {
  const recent = (st.dead_letters && st.dead_letters.recent) || [];
  const byReason = (st.dead_letters && st.dead_letters.by_reason) || [];
  setText('dead-letter-target', st.dead_letter_target ? `→ ${st.dead_letter_target}` : '');
  if (changed('letters', recent)) {
    $('#letters').replaceChildren(recent.length
      ? table([['at'], ['stage'], ['reason'], ['source'], ['offset', 'num'], ['input']], recent.map(letterRow), 'letters')
      : empty('No dead letters.'));
  }
  if (changed('reasons', byReason)) {
    const most = Math.max(1, ...byReason.map((r) => r.count));
    $('#letter-reasons').replaceChildren(byReason.length
      ? table([['stage'], ['reason'], ['count', 'num']], byReason.map((r) => el('tr', {},
        el('td', {}, el('span', {class: 'chip'}, r.stage)),
        el('td', {class: 'reason'}, r.reason),
        el('td', {class: 'num count'}, el('span', {class: 'count-bar', style: {width: `${(100 * r.count) / most}%`}}), el('span', {}, fmtInt(r.count)))))
      , 'reasons')
      : empty('Nothing refused yet.'));
  }
}

// A click on the input shows all of it (it is cut to one line otherwise).
function letterRow(d) {
  const input = el('code', {class: 'input', title: 'click to show all of it', onclick: (e) => e.currentTarget.classList.toggle('open')}, d.input ?? '');
  return el('tr', {'data-stage': d.stage, 'data-reason': d.reason},
    el('td', {title: isoOf(d.at)}, fmtClock(d.at)),
    el('td', {}, el('span', {class: 'chip'}, d.stage)),
    el('td', {class: 'reason'}, d.reason),
    el('td', {class: 'mono', title: d.source}, d.source ?? '—'),
    el('td', {class: 'num mono'}, d.offset == null ? '—' : String(d.offset)), // raw, to copy
    el('td', {class: 'input-cell'}, input));
}

// ---------------------------------------------------------------------------
// Start

function start() {
  $('#token-form').addEventListener('submit', onTokenSubmit);
  makeCharts();
  setInterval(tick, 1000);
  tick();
  poll();
}

start();
