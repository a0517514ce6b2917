// The watch page: polls GET /functions/v1/campaigns/:id with the user's JWT and draws it.
// Plain browser JS (no build step). URL parameters: ?campaign=<id>&token=<jwt>, or
// ?campaign=latest; with the local stack, the demo token is filled in automatically.
const POLL_MS = 500;
const $ = (id) => document.getElementById(id);
let functionsUrl = '/functions/v1'; // same origin: the stack's web server proxies to the router
let timer;

async function api(path) {
  const token = $('token').value.trim();
  if (!token) throw new Error('Paste a user token first (or use the local demo token).');
  const res = await fetch(`${functionsUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${res.status}: ${body?.error?.message ?? res.statusText}`);
  return body;
}

function showError(err) { $('error').textContent = err ? String(err.message ?? err) : ''; }

async function useDemoToken() {
  const res = await fetch('/local/config.json');
  if (!res.ok) throw new Error('No local demo token here (this page is not served by `npm start`).');
  const cfg = await res.json();
  functionsUrl = cfg.functionsUrl ?? functionsUrl;
  $('token').value = cfg.demoToken;
}

async function latestCampaignId() {
  const page = await api('/campaigns?limit=1');
  return page.items[0]?.id;
}

// "Latest" follows: the page switches to each newer campaign as it is created, so it can be
// opened before `npm run demo` and still show the demo's campaign.
let followLatest = false;

const fmtTime = (iso) => new Date(iso).toLocaleTimeString();

function render(c) {
  const { total, sent, failed, pending, cancelled } = c.counts;
  $('panel').hidden = false;
  $('name').textContent = c.name;
  $('state').textContent = c.state;
  $('state').className = `state ${c.state}`;
  $('pause').textContent = c.state === 'paused'
    ? (c.pauseReason === 'flood_wait' && c.resumeAt ? `Telegram FLOOD_WAIT: resumes at ${fmtTime(c.resumeAt)}` : `reason: ${c.pauseReason}`)
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
  $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}${c.completedAt ? ` · finished in ${secs.toFixed(1)} s` : ''}`;
  document.body.dataset.state = c.state; // for scripts and tests: the page's current state
}

async function watch(id) {
  clearTimeout(timer);
  showError(null);
  const tick = async () => {
    try {
      if (followLatest) {
        const latest = await latestCampaignId();
        if (!latest) showError(new Error('No campaigns yet: waiting for one (run `npm run demo` or create one).'));
        else if (latest !== id) { id = latest; $('campaign-id').value = id; showError(null); }
      }
      if (id) {
        const c = await api(`/campaigns/${encodeURIComponent(id)}`);
        render(c);
        // nothing more will change, unless a newer campaign is to be followed
        if (!followLatest && (c.state === 'completed' || c.state === 'cancelled')) return;
      }
    } catch (err) {
      showError(err);
    }
    timer = setTimeout(tick, POLL_MS);
  };
  await tick();
}

async function start() {
  const params = new URLSearchParams(location.search);
  if (params.get('token')) $('token').value = params.get('token');
  else await useDemoToken().catch(() => {}); // only the local stack offers one
  $('use-demo').onclick = () => useDemoToken().catch(showError);
  $('latest').onclick = () => { followLatest = true; watch(undefined).catch(showError); };
  $('setup').onsubmit = (e) => {
    e.preventDefault();
    followLatest = false;
    const id = $('campaign-id').value.trim();
    if (id) watch(id); else showError(new Error('Enter a campaign id or pick the latest.'));
  };
  const wanted = params.get('campaign');
  if (wanted === 'latest') $('latest').onclick();
  else if (wanted) {
    $('campaign-id').value = wanted;
    await watch(wanted).catch(showError);
  }
}

start();
