// The watch page: reads a campaign once through the functions API, then follows its progress
// over Realtime (supabase-js, the private topic `campaign:<id>`, as contracts/realtime.ts's
// watchCampaign() does), polling the API only if the socket fails. Plain browser JS, no build
// step; supabase-js is served by the local stack (/vendor/supabase.js), no CDN.
// URL parameters: ?campaign=<id>&token=<jwt>, or ?campaign=latest; with the local stack, the demo
// token is filled in automatically.
const POLL_MS = 500;
/** While polling, reach is read again this often (it changes per sampling round, hours apart). */
const REACH_POLL_MS = 5000;
const LATEST_MS = 1000;
const REPLAY_WINDOW_MS = 3 * 24 * 3600 * 1000;
const $ = (id) => document.getElementById(id);
let functionsUrl = '/functions/v1'; // same origin: the stack's web server proxies to the API
let cfg = {};
let current; // { id, campaign, stop() }

async function api(path, method = 'GET') {
  const token = $('token').value.trim();
  if (!token) throw new Error('Paste a user token first (or use the local demo token).');
  const res = await fetch(`${functionsUrl}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${res.status}: ${body?.error?.message ?? res.statusText}`);
  return body;
}

function showError(err) {
  $('error').textContent = err ? String(err.message ?? err) : '';
}

async function useDemoToken() {
  const res = await fetch('/local/config.json');
  if (!res.ok) throw new Error('No local demo token here (this page is not served by `npm start`).');
  cfg = await res.json();
  functionsUrl = cfg.functionsUrl ?? functionsUrl;
  $('token').value = cfg.demoToken;
}

const fmtTime = (iso) => new Date(iso).toLocaleTimeString();
const isFinished = (state) => state === 'completed' || state === 'cancelled';

/** Shows which way updates arrive: 'realtime' (WebSocket) or 'polling' (the API), and why. */
function setTransport(kind, detail) {
  document.body.dataset.transport = kind;
  $('transport').textContent = kind === 'realtime'
    ? 'Live over Realtime (WebSocket)'
    : `Polling the API every ${POLL_MS / 1000} s${detail ? ` — Realtime: ${detail}` : ''}`;
  $('transport').className = `transport ${kind}`;
}

function render(c, source) {
  const { total, sent, failed, pending, cancelled } = c.counts;
  $('panel').hidden = false;
  $('name').textContent = c.name;
  $('state').textContent = c.state;
  $('state').className = `state ${c.state}`;
  $('pause').textContent = c.state === 'paused'
    ? (c.pauseReason === 'flood_wait' && c.resumeAt
      ? `Telegram FLOOD_WAIT: resumes at ${fmtTime(c.resumeAt)}`
      : `reason: ${c.pauseReason}`)
    : '';
  for (const [k, v] of Object.entries({ total, sent, failed, pending, cancelled })) $(k).textContent = String(v);
  const pct = (n) => (total ? (100 * n) / total : 0);
  $('bar-sent').style.width = `${pct(sent)}%`;
  $('bar-failed').style.width = `${pct(failed)}%`;
  $('bar').setAttribute('aria-valuemax', String(total));
  $('bar').setAttribute('aria-valuenow', String(sent + failed));
  const start = c.startedAt ? Date.parse(c.startedAt) : NaN;
  const end = c.completedAt ? Date.parse(c.completedAt) : Date.now();
  const secs = (end - start) / 1000;
  $('rate').textContent = secs > 0 ? `${(sent / secs).toFixed(1)} msg/s` : '–';
  $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}${
    c.completedAt ? ` · finished in ${secs.toFixed(1)} s` : ''
  }`;
  renderMedia(c);
  renderTest(c.lastTest);
  // For scripts and tests: the page's current state, and where the last update came from.
  document.body.dataset.state = c.state;
  document.body.dataset.source = source;
}

let shownMedia = ''; // the media path on show: downloaded once per campaign

/** The campaign's photo (downloaded with supabase-js Storage as the user) or the file's name and type. */
function renderMedia(c) {
  const m = c.message.media;
  $('media').hidden = !m;
  if (!m || shownMedia === m.path) return;
  shownMedia = m.path;
  $('media-caption').textContent = `${m.kind}: ${m.path.split('/').pop()} (${m.mimeType}, ${Math.round(m.size / 1024)} KB)`;
  $('media-img').hidden = m.kind !== 'photo';
  if (m.kind !== 'photo' || !cfg.apiUrl || !globalThis.supabase) return;
  const token = $('token').value.trim();
  const client = globalThis.supabase.createClient(cfg.apiUrl, cfg.anonKey, {
    accessToken: async () => token,
    auth: { persistSession: false },
  });
  client.storage.from('campaign-media').download(m.path).then(({ data }) => {
    if (data && shownMedia === m.path) $('media-img').src = URL.createObjectURL(data);
  });
}

/** The latest test send (POST /campaigns/:id/test): where it went and what Telegram answered. */
function renderTest(t) {
  $('test').hidden = !t;
  if (!t) return;
  const where = t.peer === 'me' ? 'Saved Messages' : t.peer;
  $('test').textContent = t.state === 'sent'
    ? `Test send: message ${t.telegramMessageId} in ${where} at ${fmtTime(t.sentAt)}`
    : t.state === 'failed'
    ? `Test send to ${where} failed: ${t.errorCode} ${t.errorMessage ?? ''}`
    : `Test send to ${where}: waiting for the worker`;
  $('test').className = `test ${t.state}`;
}

/** A progress event (contracts/realtime.ts) applied to the campaign read from the API. */
function applyEvent(c, e) {
  return {
    ...c,
    state: e.state,
    pauseReason: e.pauseReason,
    resumeAt: e.resumeAt,
    counts: { total: e.total, sent: e.sent, failed: e.failed, pending: e.pending, cancelled: e.cancelled },
  };
}

/** Polls the campaign's reach (also after the campaign finished: rounds come for 72 h); returns a stop function. */
function pollReach(w) {
  let timer;
  const tick = async () => {
    await showReach(w, 'api').catch(showError);
    if (!w.stopped) timer = setTimeout(tick, REACH_POLL_MS);
  };
  timer = setTimeout(tick, REACH_POLL_MS);
  return () => clearTimeout(timer);
}

/** Polls the campaign until it finishes; returns a stop function. */
function poll(w) {
  let timer;
  const tick = async () => {
    try {
      w.campaign = await api(`/campaigns/${encodeURIComponent(w.id)}`);
      render(w.campaign, 'api');
      if (isFinished(w.campaign.state)) return;
    } catch (err) {
      showError(err);
    }
    timer = setTimeout(tick, POLL_MS);
  };
  timer = setTimeout(tick, POLL_MS);
  return () => clearTimeout(timer);
}

/** Subscribes to the campaign's topic; calls onFail(reason) if the socket cannot serve it. */
async function subscribe(w, onFail) {
  const token = $('token').value.trim();
  const client = globalThis.supabase.createClient(cfg.apiUrl, cfg.anonKey, {
    accessToken: async () => token,
    auth: { persistSession: false },
  });
  await client.realtime.setAuth(); // the join must carry the user's JWT
  let lastAt = -Infinity;
  let events = 0;
  const channel = client
    .channel(`campaign:${w.id}`, {
      config: { private: true, broadcast: { replay: { since: Date.now() - REPLAY_WINDOW_MS, limit: 1 } } },
    })
    .on('broadcast', { event: 'progress' }, async ({ payload: e }) => {
      if (!e || !w.campaign || w.stopped || Date.parse(e.at) < lastAt) return; // full snapshots: never go back
      lastAt = Date.parse(e.at);
      document.body.dataset.events = String(++events);
      // Events carry state and counts, not start and end times: read those once per state change
      // (for the rate and the "finished in" line).
      if (e.state !== w.campaign.state) {
        const read = await api(`/campaigns/${encodeURIComponent(w.id)}`).catch(() => undefined);
        if (Date.parse(e.at) < lastAt) return; // a newer event came in meanwhile
        if (read) w.campaign = read;
      }
      w.campaign = applyEvent(w.campaign, e);
      render(w.campaign, 'realtime');
    })
    .on('broadcast', { event: 'reach' }, () => {
      // The event carries the campaign's totals; the table needs each post's figures: read them.
      if (!w.stopped) void showReach(w, 'realtime');
    })
    .subscribe((status, err) => {
      if (w.stopped) return;
      if (status === 'SUBSCRIBED') setTransport('realtime');
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
        onFail(err?.message ?? status.toLowerCase());
      }
    });
  return () => {
    void client.removeChannel(channel).then(() => client.realtime.disconnect());
  };
}

async function watch(id) {
  current?.stop();
  showError(null);
  const w = { id, campaign: undefined, stopped: false, stops: [] };
  current = w;
  w.stop = () => {
    w.stopped = true;
    w.stops.forEach((f) => f());
  };
  try {
    w.campaign = await api(`/campaigns/${encodeURIComponent(id)}`); // the current state at once
    render(w.campaign, 'api');
    await showReach(w, 'api');
  } catch (err) {
    showError(err);
  }
  let polling = false;
  const fallBack = (reason) => {
    if (polling || w.stopped) return;
    polling = true;
    setTransport('polling', reason);
    w.stops.push(poll(w), pollReach(w));
  };
  if (!globalThis.supabase || !cfg.apiUrl || !cfg.anonKey) return fallBack('not configured on this page');
  try {
    w.stops.push(await subscribe(w, fallBack));
  } catch (err) {
    fallBack(err.message);
  }
}

const SVG = 'http://www.w3.org/2000/svg';
const svgEl = (name, attrs, text) => {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
};

/** Views over time: the campaign's totals after each sampling round (GET /campaigns/:id/reach's history). */
function drawReachChart(history) {
  const svg = $('reach-chart');
  svg.replaceChildren();
  const [W, H, L, R, T, B] = [640, 220, 56, 16, 16, 36];
  if (!history.length) {
    svg.append(svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'No reach sampled yet'));
    return;
  }
  const times = history.map((h) => Date.parse(h.takenAt));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const top = Math.max(1, ...history.map((h) => h.views));
  const x = (t) => L + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - L - R) : (W - L - R) / 2);
  const y = (v) => H - B - (v / top) * (H - T - B);
  svg.append(
    svgEl('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }),
    svgEl('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }),
    svgEl('text', { x: L - 6, y: y(top) + 4, 'text-anchor': 'end' }, top.toLocaleString()),
    svgEl('text', { x: L - 6, y: H - B + 4, 'text-anchor': 'end' }, '0'),
    svgEl('text', { x: L, y: H - 10 }, fmtTime(history[0].takenAt)),
    svgEl('text', { x: W - R, y: H - 10, 'text-anchor': 'end' }, fmtTime(history.at(-1).takenAt)),
    svgEl('polyline', { points: history.map((h, i) => `${x(times[i])},${y(h.views)}`).join(' '), class: 'views' }),
  );
  history.forEach((h, i) => {
    const dot = svgEl('circle', { cx: x(times[i]), cy: y(h.views), r: 4, class: 'views' });
    dot.append(svgEl('title', {}, `${h.round}: ${h.views} views at ${fmtTime(h.takenAt)}`));
    svg.append(dot);
  });
}

/** Each sent post (one per channel) with its latest figures: the first page of 100. */
function fillReachTable(items) {
  $('reach-rows').replaceChildren(...items.map((c) => {
    const tr = document.createElement('tr');
    const cells = [
      c.peer,
      c.telegramMessageId,
      c.views ?? '–',
      c.forwards ?? '–',
      c.reactions ?? '–',
      c.errorCode ?? (c.sampledAt ? fmtTime(c.sampledAt) : 'not yet'),
    ];
    for (const v of cells) tr.append(Object.assign(document.createElement('td'), { textContent: String(v) }));
    return tr;
  }));
}

/** Reads the campaign's reach and shows its chart, totals and table ('api' or 'realtime' says what prompted it). */
async function showReach(w, source) {
  const r = await api(`/campaigns/${encodeURIComponent(w.id)}/reach?limit=100`);
  if (w.stopped) return;
  $('reach').hidden = false;
  $('reach-totals').textContent =
    `${r.totals.views.toLocaleString()} views · ${r.totals.forwards.toLocaleString()} forwards · ${r.totals.reactions.toLocaleString()} reactions · ${r.totals.sampled} of ${r.totals.sent} posts sampled`;
  drawReachChart(r.history);
  fillReachTable(r.channels.items);
  document.body.dataset.reachPoints = String(r.history.length);
  document.body.dataset.reachViews = String(r.totals.views);
  document.body.dataset.reachReactions = String(r.totals.reactions);
  document.body.dataset.reachSource = source;
}

/** "Latest" follows: switches to each newer campaign, so the page can be opened before the demo. */
function followLatest() {
  let timer;
  const tick = async () => {
    try {
      const latest = (await api('/campaigns?limit=1')).items[0]?.id;
      if (!latest) showError(new Error('No campaigns yet: waiting for one (run `npm run demo` or create one).'));
      else if (latest !== current?.id) {
        $('campaign-id').value = latest;
        await watch(latest);
      }
    } catch (err) {
      showError(err);
    }
    timer = setTimeout(tick, LATEST_MS);
  };
  void tick();
  return () => clearTimeout(timer);
}

async function start() {
  const params = new URLSearchParams(location.search);
  await useDemoToken().catch(() => {}); // only the local stack offers one (and the Realtime settings)
  if (params.get('token')) $('token').value = params.get('token');
  let stopLatest = () => {};
  $('use-demo').onclick = () => useDemoToken().catch(showError);
  $('reach-refresh').onclick = () => {
    if (current) api(`/campaigns/${encodeURIComponent(current.id)}/reach/refresh`, 'POST').catch(showError);
  };
  $('latest').onclick = () => {
    stopLatest();
    stopLatest = followLatest();
  };
  $('setup').onsubmit = (e) => {
    e.preventDefault();
    stopLatest();
    const id = $('campaign-id').value.trim();
    if (id) void watch(id);
    else showError(new Error('Enter a campaign id or pick the latest.'));
  };
  const wanted = params.get('campaign');
  if (wanted === 'latest') $('latest').onclick();
  else if (wanted) {
    $('campaign-id').value = wanted;
    await watch(wanted);
  }
}

start();
