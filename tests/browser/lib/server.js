// Helpers for the browser tests: an isolated `portico serve` and a headless
// Chromium driven through playwright-core.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** Root of the Cargo workspace (tests/browser/lib -> repo root). */
export const repoRoot = resolve(here, '..', '..', '..');

/** Where full-page screenshots are written (git-ignored). */
export const screenshotDir = resolve(here, '..', 'screenshots');

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** Path of the `portico` binary: `PORTICO_BIN`, else the debug build. */
export function porticoBinary() {
  const bin = process.env.PORTICO_BIN
    ? resolve(process.env.PORTICO_BIN)
    : join(repoRoot, 'target', 'debug', 'portico');
  if (!existsSync(bin)) {
    throw new Error(
      `portico binary not found at ${bin}; run \`cargo build -p portico-web\` ` +
        'in the repository root or set PORTICO_BIN',
    );
  }
  return bin;
}

/**
 * Starts `portico serve` on an OS-chosen loopback port with a fresh SQLite
 * database, mail and document directories in a temporary directory, and a
 * random storage master key (documents can be uploaded and downloaded).
 *
 * `env` adds or overrides `PORTICO_…` variables (e.g. an SMTP transport);
 * by default mail is written as `.eml` files into `mailDir`.
 *
 * Resolves to `{ port, operatorToken, dir, mailDir, baseUrl(slug?), logs(), stop() }`.
 */
export async function startServer({ startupTimeoutMs = STARTUP_TIMEOUT_MS, env: extraEnv = {} } = {}) {
  const bin = porticoBinary();
  const dir = mkdtempSync(join(tmpdir(), 'portico-browser-'));
  mkdirSync(join(dir, 'mail'), { recursive: true });
  mkdirSync(join(dir, 'documents'), { recursive: true });
  const operatorToken = randomBytes(24).toString('hex');

  const env = {
    ...process.env,
    PORTICO_DATABASE__URL: `sqlite://${join(dir, 'portico.db')}?mode=rwc`,
    PORTICO_DATABASE__MIGRATE_ON_START: 'true',
    PORTICO_SERVER__BIND: '127.0.0.1:0',
    PORTICO_SERVER__PUBLIC_PORT: '0',
    PORTICO_SERVER__BASE_DOMAIN: 'localhost',
    PORTICO_PLATFORM__OPERATOR_TOKEN: operatorToken,
    PORTICO_MAIL__TRANSPORT: 'file',
    PORTICO_MAIL__FILE_DIR: join(dir, 'mail'),
    PORTICO_STORAGE__DIR: join(dir, 'documents'),
    // Stored documents are encrypted under this key; a fresh one per server.
    PORTICO_STORAGE__MASTER_KEY: randomBytes(32).toString('base64'),
    PORTICO_LOG__FORMAT: 'json',
    ...extraEnv,
  };

  const child = spawn(bin, ['serve'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let output = '';
  // Never leave a server behind, even when the test process ends abruptly.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolveExit({ code, signal });
    });
  });

  const port = await new Promise((resolvePort, rejectPort) => {
    const timer = setTimeout(() => {
      finish(new Error(`portico did not report "listening on" within ${startupTimeoutMs} ms\n${output}`));
    }, startupTimeoutMs);

    function onData(chunk) {
      output += chunk.toString();
      const match = output.match(/listening on 127\.0\.0\.1:(\d+)/);
      if (match) finish(null, Number(match[1]));
    }
    function onExit(code, signal) {
      finish(new Error(`portico exited before listening (code ${code}, signal ${signal})\n${output}`));
    }
    function onError(err) {
      finish(new Error(`failed to start ${bin}: ${err.message}`));
    }
    function finish(err, value) {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep collecting output for diagnostics, but stop matching.
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      child.stdout.on('data', (c) => (output += c.toString()));
      child.stderr.on('data', (c) => (output += c.toString()));
      if (err) rejectPort(err);
      else resolvePort(value);
    }

    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  }).catch(async (err) => {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });

  let stopped = null;
  return {
    port,
    operatorToken,
    dir,
    /** Where the file mail transport writes `.eml` files (unused with SMTP). */
    mailDir: join(dir, 'mail'),
    /** `http://localhost:<port>` or `http://<slug>.localhost:<port>`. */
    baseUrl(slug) {
      return slug ? `http://${slug}.localhost:${port}` : `http://localhost:${port}`;
    },
    /** Everything the server has printed so far. */
    logs() {
      return output;
    },
    /** Sends SIGTERM, waits for exit (SIGKILL after a grace period), removes the temp dir. */
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
        return exited;
      })();
      return stopped;
    },
  };
}

/** Launches headless Chromium from the system (`CHROMIUM_PATH`, else /usr/bin/chromium). */
export async function launchChromium() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}; set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Full-page screenshot into tests/browser/screenshots/<name>. */
export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, name);
  await page.screenshot({ path, fullPage: true, timeout: 15_000 });
  return path;
}
