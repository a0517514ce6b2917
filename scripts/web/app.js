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
  if (!page.items.length) throw new Error('You have no campaigns yet: run `npm run demo` or create one.');
  return page.items[0].id;
}

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
      const c = await api(`/campaigns/${encodeURIComponent(id)}`);
      render(c);
      if (c.state === 'completed' || c.state === 'cancelled') return; // nothing more will change
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
  $('latest').onclick = async () => {
    try { $('campaign-id').value = await latestCampaignId(); await watch($('campaign-id').value); } catch (err) { showError(err); }
  };
  $('setup').onsubmit = (e) => {
    e.preventDefault();
    const id = $('campaign-id').value.trim();
    if (id) watch(id); else showError(new Error('Enter a campaign id or pick the latest.'));
  };
  const wanted = params.get('campaign');
  if (wanted) {
    try {
      $('campaign-id').value = wanted === 'latest' ? await latestCampaignId() : wanted;
      await watch($('campaign-id').value);
    } catch (err) { showError(err); }
  }
}

start();
