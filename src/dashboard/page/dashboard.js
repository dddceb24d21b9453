// The dashboard page: listens to the dashboard process's event stream (/events) and draws the
// nodes side by side, small live charts, and the timeline. Plain DOM and canvas, no framework.
'use strict';

const HISTORY_POINTS = 120; // 30 s at the default 250 ms poll
const history = new Map(); // url -> { series name -> number[] }
const cards = new Map(); // url -> elements of that node's card
const $ = (id) => document.getElementById(id);

const CHARTS = [
  { key: 'events', label: 'events/s', unit: (v) => fmtNumber(v) },
  { key: 'log', label: 'log B/s (dashed: input × 1.2)', unit: (v) => fmtBytes(v) + '/s', second: 'expected' },
  { key: 'lag', label: 'lag (entries)', unit: (v) => fmtNumber(v) },
  { key: 'rtt', label: 'heartbeat RTT', unit: (v) => fmtMs(v) },
];

function fmtNumber(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  return v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(v >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}
function fmtBytes(v) {
  if (v === undefined || v === null) return '–';
  if (v >= 1048576) return (v / 1048576).toFixed(1) + ' MiB';
  if (v >= 1024) return (v / 1024).toFixed(1) + ' KiB';
  return Math.round(v) + ' B';
}
function fmtMs(seconds) {
  if (seconds === undefined || seconds === null) return '–';
  const ms = seconds * 1000;
  return (ms >= 10 ? Math.round(ms) : ms.toFixed(2)) + ' ms';
}
function fmtTime(ms) {
  const d = new Date(ms);
  return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
function shortName(url) {
  try { return new URL(url).host; } catch { return url; }
}

function makeCard(url, index) {
  const card = el('article', 'node');
  card.dataset.url = url;
  const head = el('div', 'node-head');
  const role = el('span', 'role', '…');
  head.append(el('span', 'url', `node ${String.fromCharCode(65 + index)} · ${url}`), role);
  const facts = el('dl', 'facts');
  const fields = {};
  for (const [key, label] of [['epoch', 'epoch'], ['protection', 'protection'], ['events', 'events/s'], ['log', 'log bandwidth'], ['lag', 'lag'], ['waiting', 'outputs waiting'], ['hold', 'output hold (mean)'], ['rtt', 'heartbeat RTT'], ['seq', 'log entries'], ['arbiter', 'arbiter']]) {
    facts.append(el('dt', '', label));
    fields[key] = el('dd', key === 'protection' ? 'protection' : '');
    fields[key].dataset.field = key;
    facts.append(fields[key]);
  }
  const charts = el('div', 'charts');
  const canvases = {};
  for (const chart of CHARTS) {
    const box = el('div', 'chart');
    const label = el('div', 'label');
    const now = el('span', '', '–');
    label.append(el('span', '', chart.label), now);
    const canvas = document.createElement('canvas');
    box.append(label, canvas);
    charts.append(box);
    canvases[chart.key] = { canvas, now };
  }
  card.append(head, facts, charts);
  $('nodes').append(card);
  return { card, role, fields, canvases };
}

function push(url, name, value) {
  let h = history.get(url);
  if (!h) history.set(url, (h = {}));
  const series = h[name] || (h[name] = []);
  series.push(value === undefined || value === null ? null : value);
  if (series.length > HISTORY_POINTS) series.shift();
  return series;
}

function draw(canvas, series, dashed, color) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  const values = series.concat(dashed || []).filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(1e-9, ...values) * 1.1;
  const line = (points, style, dash) => {
    ctx.beginPath();
    ctx.setLineDash(dash);
    ctx.strokeStyle = style;
    ctx.lineWidth = 1.5 * ratio;
    let started = false;
    points.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) { started = false; return; }
      const x = ((HISTORY_POINTS - points.length + i) / (HISTORY_POINTS - 1)) * width; // newest at the right edge
      const y = height - (v / max) * (height - 2 * ratio) - ratio;
      if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      started = true;
    });
    ctx.stroke();
  };
  if (dashed) line(dashed, '#98a2b3', [4 * ratio, 3 * ratio]);
  line(series, color, []);
}

/** The arbiter in one line: the file arbiter's directory, or etcd's endpoints, the epoch's token and whether it answers. */
function fmtArbiter(a) {
  if (!a) return '–';
  if (a.kind !== 'etcd') return `${a.kind}${a.dir ? ' · ' + a.dir : ''}`;
  const reach = a.reachable === false ? 'UNREACHABLE: no failover possible' : a.reachable === true ? 'reachable' : 'not contacted yet';
  return `etcd ${a.endpoints} · ${a.prefix}` + (a.token !== undefined ? ` · token ${a.token}` : '') + ` · ${reach}`;
}

function renderNode(node, index) {
  let c = cards.get(node.url);
  if (!c) cards.set(node.url, (c = makeCard(node.url, index)));
  const role = node.up ? node.role || '?' : 'down';
  c.card.className = `node ${node.up ? role : 'down'}`;
  c.role.textContent = node.up ? role + (node.promotedFromSecondary ? ' (promoted)' : '') : `down${node.lastSeenMs ? ' since ' + fmtTime(node.lastSeenMs) : ''}`;
  const f = c.fields;
  f.epoch.textContent = node.epoch ?? '–';
  f.protection.textContent = node.up ? node.protection || (node.role === 'secondary' ? (node.state || (node.peerConnected ? 'following' : 'not connected')) + ' (secondary)' : '–') : '–';
  f.protection.className = 'protection protection-' + (node.protection || 'none');
  f.events.textContent = node.up ? fmtNumber(node.eventsPerS) : '–';
  f.log.textContent = node.up ? `${fmtBytes(node.logBytesPerS)}/s` + (node.inputBytesPerS ? ` (input × 1.2 = ${fmtBytes(node.expectedLogBytesPerS)}/s)` : '') : '–';
  f.lag.textContent = node.up && node.lagEntries !== undefined ? `${fmtNumber(node.lagEntries)} entries` + (node.lagSeconds !== undefined ? `, ${fmtMs(node.lagSeconds)}` : '') : '–';
  f.waiting.textContent = node.up ? fmtNumber(node.outputsWaiting) : '–';
  f.hold.textContent = node.up ? fmtMs(node.holdSecondsMean) : '–';
  f.rtt.textContent = node.up ? fmtMs(node.heartbeatRttSeconds) : '–';
  f.arbiter.textContent = node.up ? fmtArbiter(node.arbiter) : '–';
  f.arbiter.className = node.up && node.arbiter && node.arbiter.reachable === false ? 'arbiter-unreachable' : '';
  f.seq.textContent = node.up ? `#${node.lastSeq ?? 0}` + (node.replayedSeq !== undefined && node.role === 'secondary' ? ` (replayed #${node.replayedSeq})` : '') : (node.error || '–');

  const up = (v) => (node.up ? v : null);
  const color = node.up ? (node.role === 'primary' ? '#1a7f37' : '#0a5bd3') : '#b42318';
  const series = {
    events: push(node.url, 'events', up(node.eventsPerS)),
    log: push(node.url, 'log', up(node.logBytesPerS)),
    expected: push(node.url, 'expected', up(node.expectedLogBytesPerS ?? null)),
    lag: push(node.url, 'lag', up(node.lagEntries)),
    rtt: push(node.url, 'rtt', up(node.heartbeatRttSeconds)),
  };
  for (const chart of CHARTS) {
    const { canvas, now } = c.canvases[chart.key];
    const s = series[chart.key];
    now.textContent = chart.unit(s[s.length - 1]);
    draw(canvas, s, chart.second ? series[chart.second] : undefined, color);
  }
}

function renderTimeline(events, nodes) {
  const list = $('timeline');
  const names = new Map(nodes.map((n, i) => [n.url, `${String.fromCharCode(65 + i)} ${shortName(n.url)}`]));
  // Rebuild only when something new happened (events are appended or the oldest drop out).
  const signature = events.length ? `${events.length}:${events[events.length - 1].atMs}:${events[0].atMs}` : '0';
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  list.replaceChildren(...events.slice().reverse().map((e) => {
    const li = el('li', '');
    li.dataset.kind = e.kind;
    li.append(el('span', 'when', fmtTime(e.atMs)), el('span', 'who', names.get(e.url) || e.url), el('span', `kind kind-${e.kind}`, e.kind), el('span', 'text', e.text));
    return li;
  }));
}

function renderLoad(extra) {
  const load = $('load');
  if (!extra || !extra.load) { load.textContent = ''; return; }
  const p = extra.load;
  load.replaceChildren();
  const parts = [['answers/s', fmtNumber(p.answersPerS)], ['answered', p.answered], ['sent', p.sent], ['retries', p.retried], ['lost', p.lost], ['duplicates', p.duplicates], ['load sent to', shortName(p.currentTarget || '')]];
  parts.forEach(([label, value], i) => {
    if (i) load.append(' · ');
    load.append(`${label} `, el('b', '', String(value)));
  });
}

function render(state) {
  $('title').textContent = state.title;
  document.title = `${state.title} · Lockstep`;
  $('clock').textContent = fmtTime(state.atMs);
  $('demo').hidden = !state.actions;
  state.nodes.forEach(renderNode);
  renderTimeline(state.timeline, state.nodes);
  renderLoad(state.extra);
}

async function act(path, button) {
  button.disabled = true;
  $('action-message').textContent = '…';
  try {
    const response = await fetch(path, { method: 'POST', headers: { 'x-lockstep-action': '1' } });
    const body = await response.json();
    $('action-message').textContent = body.message;
  } catch (error) {
    $('action-message').textContent = `the dashboard did not answer: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function connect() {
  const source = new EventSource('/events');
  source.addEventListener('state', (event) => render(JSON.parse(event.data)));
  source.addEventListener('open', () => { $('connection').textContent = 'live'; $('connection').className = 'pill on'; });
  source.addEventListener('error', () => { $('connection').textContent = 'reconnecting…'; $('connection').className = 'pill off'; });
}

$('kill-primary').addEventListener('click', (e) => act('/actions/kill-primary', e.currentTarget));
$('restart-secondary').addEventListener('click', (e) => act('/actions/restart-secondary', e.currentTarget));
connect();
