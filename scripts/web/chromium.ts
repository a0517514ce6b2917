// Just enough of headless Chromium for the page test, over the DevTools protocol with Node's
// built-in WebSocket: no browser download, no extra dependency. Uses Debian's `chromium`
// (/usr/bin/chromium, or CHROMIUM_PATH).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumMissingMessage(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  return `headless Chromium not found at ${CHROMIUM_PATH}: install it (as root: apt-get install -y --no-install-recommends chromium) or set CHROMIUM_PATH`;
}

export interface Page {
  navigate(url: string): Promise<void>;
  /** Evaluates a JS expression in the page and returns its (JSON) value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; returns its value. */
  waitFor<T>(expression: string, timeoutMs: number): Promise<T>;
  screenshot(): Promise<Buffer>;
}

export interface Browser {
  page: Page;
  close(): Promise<void>;
}

export async function launchChromium(opts: { width?: number; height?: number } = {}): Promise<Browser> {
  const missing = chromiumMissingMessage();
  if (missing) throw new Error(missing);
  if (typeof WebSocket === 'undefined') {
    throw new Error(`Node ${process.version} has no global WebSocket: run with the pinned Node 24 (npm test / npm run …)`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'tg-chromium-'));
  const child: ChildProcess = spawn(CHROMIUM_PATH, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
    '--disable-dev-shm-usage', '--hide-scrollbars', '--remote-debugging-port=0', `--user-data-dir=${profile}`,
    `--window-size=${opts.width ?? 1000},${opts.height ?? 900}`, 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(profile, { recursive: true, force: true }).catch(() => {});
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), 20_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d;
        const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`chromium exited (${code}):\n${err}`)); });
    });
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as Array<{ type: string; webSocketDebuggerUrl: string }>;
    const target = targets.find((t) => t.type === 'page');
    if (!target) throw new Error('chromium has no page target');
    const page = await connectPage(target.webSocketDebuggerUrl);
    return { page, close: async () => { page.dispose(); await close(); } };
  } catch (err) {
    await close();
    throw err;
  }
}

async function connectPage(wsUrl: string): Promise<Page & { dispose(): void }> {
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
  });
  let nextId = 1;
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  const loaded: Array<() => void> = [];
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; method?: string; result?: unknown; error?: { message: string } };
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message)); else p?.resolve(msg.result);
    } else if (msg.method === 'Page.loadEventFired') {
      loaded.splice(0).forEach((f) => f());
    }
  };
  const send = <T = any>(method: string, params: Record<string, unknown> = {}): Promise<T> => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
  await send('Page.enable');
  await send('Runtime.enable');

  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await send<{ result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value as T;
  };
  return {
    async navigate(url) {
      const onLoad = new Promise<void>((r) => loaded.push(r));
      await send('Page.navigate', { url });
      await onLoad;
    },
    evaluate,
    async waitFor<T>(expression: string, timeoutMs: number): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await evaluate<T>(expression);
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expression}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async screenshot() {
      const { data } = await send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
      return Buffer.from(data, 'base64');
    },
    dispose() { ws.close(); },
  };
}
