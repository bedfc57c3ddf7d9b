// A real SMTP server for the browser tests: Python's aiosmtpd writing every
// message it receives into a Maildir in a temporary directory.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { maildirMailbox } from './mail.js';

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** A Python interpreter that can import aiosmtpd: `PORTICO_TEST_PYTHON`, `python3`, `/usr/bin/python3`. */
export function smtpPython() {
  const candidates = [process.env.PORTICO_TEST_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import aiosmtpd'], { stdio: 'ignore', timeout: 15_000 });
    if (probe.status === 0) return candidate;
  }
  throw new Error(
    `aiosmtpd is needed for the SMTP browser tests (tried ${candidates.join(', ')}): ` +
      'pip install aiosmtpd, or apt-get install python3-aiosmtpd',
  );
}

/** A loopback port that was free a moment ago (bound, then released). */
export async function freePort() {
  return new Promise((resolvePort, rejectPort) => {
    const server = createServer();
    server.unref();
    server.once('error', rejectPort);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolveConnect) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolveConnect(false);
    });
    socket.once('error', () => resolveConnect(false));
  });
}

/**
 * Starts aiosmtpd on a free loopback port with a Maildir handler.
 *
 * Resolves to `{ port, maildir, mailbox, logs(), stop() }`; `mailbox` reads
 * `<maildir>/new` (see mail.js).
 */
export async function startSmtpServer({ startupTimeoutMs = STARTUP_TIMEOUT_MS } = {}) {
  const python = smtpPython();
  const dir = mkdtempSync(join(tmpdir(), 'portico-smtp-'));
  const maildir = join(dir, 'maildir');
  const port = await freePort();

  const child = spawn(
    python,
    ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (c) => (output += c.toString()));
  child.stderr.on('data', (c) => (output += c.toString()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let spawnError = null;
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolveExit({ code, signal });
    });
  });

  let stopped = null;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && !spawnError) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const deadline = Date.now() + startupTimeoutMs;
  for (;;) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`aiosmtpd (${python}) did not start: ${spawnError?.message ?? `exited ${child.exitCode}`}\n${output}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`aiosmtpd did not accept connections on 127.0.0.1:${port} within ${startupTimeoutMs} ms\n${output}`);
    }
    await sleep(50);
  }

  return {
    port,
    maildir,
    mailbox: maildirMailbox(maildir),
    logs: () => output,
    stop,
  };
}
