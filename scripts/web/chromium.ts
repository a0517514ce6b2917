// Just enough of headless Chromium for the page test. The browser comes from the project's own
// install: @sparticuz/chromium ships a Brotli-packed chrome-headless-shell (Chromium 153, x64)
// with the NSS libraries and fonts it links against, so nothing is installed system-wide.
// puppeteer-core drives it over a pipe (no port). CHROMIUM_PATH points at another binary.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress } from 'node:zlib';
import puppeteer, { type Browser as PuppeteerBrowser } from 'puppeteer-core';

const PACKAGE_BIN = join(dirname(fileURLToPath(import.meta.resolve('@sparticuz/chromium'))), '..', 'bin');
const PACKAGE_VERSION =
  (JSON.parse(await readFile(join(PACKAGE_BIN, '..', 'package.json'), 'utf8')) as { version: string }).version;
/** Where the packed browser is unpacked once per install (npm ci starts over). */
const UNPACKED = join(PACKAGE_BIN, '..', '..', '..', '.cache', `sparticuz-chromium-${PACKAGE_VERSION}`);

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? join(UNPACKED, 'chromium');

export function chromiumMissingMessage(): string | undefined {
  if (process.env.CHROMIUM_PATH) {
    return existsSync(CHROMIUM_PATH)
      ? undefined
      : `CHROMIUM_PATH=${CHROMIUM_PATH} does not exist: unset it to use the browser from npm install`;
  }
  if (process.arch !== 'x64') {
    return `@sparticuz/chromium ships an x64 browser only; on ${process.arch} set CHROMIUM_PATH to a Chromium binary`;
  }
  if (!existsSync(join(PACKAGE_BIN, 'chromium.br'))) return `${PACKAGE_BIN}/chromium.br missing: run npm install`;
  return undefined;
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

/**
 * Unpacks the browser, its libraries and fonts next to node_modules the first time (~2 s) and
 * returns the binary. Unpacked into a private directory then renamed, so two test processes
 * starting at once never run a half-written binary.
 */
export function unpackChromium(): Promise<string> {
  unpacking ??= unpack().finally(() => {
    unpacking = undefined;
  });
  return unpacking;
}
let unpacking: Promise<string> | undefined;

async function unpack(): Promise<string> {
  if (existsSync(join(UNPACKED, 'chromium'))) return join(UNPACKED, 'chromium');
  const tmp = `${UNPACKED}.tmp-${process.pid}-${randomUUID()}`;
  await mkdir(tmp, { recursive: true });
  try {
    await pipeline(
      createReadStream(join(PACKAGE_BIN, 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(join(tmp, 'chromium'), { mode: 0o755 }),
    );
    await untarBrotli(join(PACKAGE_BIN, 'al2023.tar.br'), tmp); // lib/: libnss3, libnspr4, libexpat …
    await untarBrotli(join(PACKAGE_BIN, 'fonts.tar.br'), tmp); // fonts/Open_Sans
    // The package's fonts.conf names /tmp/fonts; ours names where the fonts are.
    await writeFile(
      join(tmp, 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n` +
        `<fontconfig><dir>${join(UNPACKED, 'fonts')}</dir><dir>/usr/share/fonts</dir>` +
        `<cachedir>${join(UNPACKED, 'fonts-cache')}</cachedir></fontconfig>\n`,
    );
    await rename(tmp, UNPACKED).catch(async (err: NodeJS.ErrnoException) => {
      if (!existsSync(join(UNPACKED, 'chromium'))) throw err; // else another process won the race
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return join(UNPACKED, 'chromium');
}

async function untarBrotli(file: string, dir: string): Promise<void> {
  // Via a file, not a pipe: tar stops reading at the end-of-archive blocks, which would cut
  // the pipe before the decompressor has written its last bytes.
  const tarFile = join(dir, 'unpacking.tar');
  await pipeline(createReadStream(file), createBrotliDecompress(), createWriteStream(tarFile));
  const tar = spawn('tar', ['-x', '-f', tarFile, '-C', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    tar.once('error', reject);
    tar.once('close', resolve);
  });
  await rm(tarFile);
  if (code !== 0) throw new Error(`tar -x of ${file} failed (${code}): ${stderr}`);
}

// Flags for a closed network and a root user: no sandbox (root cannot have one without user
// namespaces), no GPU, and nothing that phones home (background networking, component
// updates, sync, first-run), whose refused connections slow every start here. puppeteer adds
// its own defaults (a fresh --user-data-dir it deletes on close, --no-first-run, …).
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--hide-scrollbars',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-domain-reliability',
  '--no-pings',
  '--font-render-hinting=none',
];

export async function launchChromium(opts: { width?: number; height?: number } = {}): Promise<Browser> {
  const missing = chromiumMissingMessage();
  if (missing) throw new Error(missing);
  const ownBrowser = !process.env.CHROMIUM_PATH;
  const executablePath = ownBrowser ? await unpackChromium() : CHROMIUM_PATH;
  const width = opts.width ?? 1000;
  const height = opts.height ?? 900;
  const browser: PuppeteerBrowser = await puppeteer.launch({
    executablePath,
    headless: 'shell',
    pipe: true,
    args: [...FLAGS, `--window-size=${width},${height}`],
    defaultViewport: { width, height },
    timeout: 30_000,
    env: ownBrowser
      ? {
        ...process.env,
        LD_LIBRARY_PATH: join(UNPACKED, 'lib'),
        FONTCONFIG_PATH: UNPACKED,
        FONTCONFIG_FILE: join(UNPACKED, 'fonts.conf'),
      }
      : process.env,
  });
  try {
    const [first] = await browser.pages();
    const p = first ?? await browser.newPage();
    const page: Page = {
      async navigate(url) {
        await p.goto(url, { waitUntil: 'load' });
      },
      evaluate: <T>(expression: string) => p.evaluate(expression) as Promise<T>,
      async waitFor<T>(expression: string, timeoutMs: number): Promise<T> {
        try {
          const handle = await p.waitForFunction(expression, { timeout: timeoutMs, polling: 100 });
          return await handle.jsonValue() as T;
        } catch (err) {
          if ((err as Error).name === 'TimeoutError') {
            throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expression}`);
          }
          throw err;
        }
      },
      async screenshot() {
        return Buffer.from(await p.screenshot({ type: 'png' }));
      },
    };
    return { page, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
