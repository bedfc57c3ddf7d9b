// Reading the emails Portico sends: `.eml` files of the file transport, or a
// Maildir written by a real SMTP server (see smtp.js).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const DEFAULT_MAIL_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

/**
 * Decodes a quoted-printable body (RFC 2045): soft line breaks (`=` at the end
 * of a line) are removed and `=XX` escapes become bytes, read as UTF-8.
 */
export function decodeQuotedPrintable(text) {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; i++) {
    const ch = joined[i];
    if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(ch, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Decodes RFC 2047 encoded words (`=?utf-8?Q?…?=`, `=?utf-8?B?…?=`) in a header value. */
export function decodeHeaderValue(value) {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset, encoding, data) => {
      const enc = /^utf-?8$/i.test(charset) ? 'utf8' : 'latin1';
      if (encoding.toUpperCase() === 'B') return Buffer.from(data, 'base64').toString(enc);
      return decodeQuotedPrintable(data.replace(/_/g, ' '));
    });
}

function splitHeadersAndBody(raw) {
  const match = raw.match(/\r?\n\r?\n/);
  if (!match) return [raw, ''];
  return [raw.slice(0, match.index), raw.slice(match.index + match[0].length)];
}

function parseHeaders(block) {
  const headers = {};
  // Unfold continuation lines, then split "Name: value".
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = decodeHeaderValue(line.slice(colon + 1).trim());
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

function decodeBody(headers, body) {
  const contentType = headers['content-type'] ?? 'text/plain';
  const boundary = contentType.match(/boundary="?([^";]+)"?/i)?.[1];
  if (/^multipart\//i.test(contentType) && boundary) {
    const parts = body
      .split(`--${boundary}`)
      .slice(1)
      .filter((part) => !part.startsWith('--'))
      .map((part) => {
        const [h, b] = splitHeadersAndBody(part.replace(/^\r?\n/, ''));
        const partHeaders = parseHeaders(h);
        return { headers: partHeaders, body: decodeBody(partHeaders, b) };
      });
    const plain = parts.find((p) => /^text\/plain/i.test(p.headers['content-type'] ?? 'text/plain'));
    return (plain ?? parts[0])?.body ?? '';
  }
  const encoding = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

/** Parses a raw RFC 5322 message into `{ headers, to, subject, body, raw }` (body decoded). */
export function parseEmail(raw) {
  const [headerBlock, body] = splitHeadersAndBody(raw);
  const headers = parseHeaders(headerBlock);
  return {
    headers,
    to: headers.to ?? '',
    subject: headers.subject ?? '',
    body: decodeBody(headers, body),
    raw,
  };
}

function readMessages(files) {
  return files
    .map((path) => ({ path, mtime: statSync(path).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path))
    .map(({ path }) => ({ path, ...parseEmail(readFileSync(path, 'utf8')) }));
}

/** The `.eml` files of Portico's file transport in `dir`, oldest first. */
export function fileMailbox(dir) {
  return {
    describe: `mail directory ${dir}`,
    messages() {
      if (!existsSync(dir)) return [];
      return readMessages(
        readdirSync(dir)
          .filter((name) => name.endsWith('.eml'))
          .map((name) => join(dir, name)),
      );
    },
  };
}

/** The messages of a Maildir (`new/` and `cur/`), oldest first. */
export function maildirMailbox(dir) {
  return {
    describe: `Maildir ${dir}`,
    messages() {
      const files = [];
      for (const sub of ['new', 'cur']) {
        const path = join(dir, sub);
        if (!existsSync(path)) continue;
        for (const name of readdirSync(path)) {
          if (!name.startsWith('.')) files.push(join(path, name));
        }
      }
      return readMessages(files);
    },
  };
}

function matches(message, { to, subject }) {
  if (to && !message.to.toLowerCase().includes(to.toLowerCase())) return false;
  if (subject instanceof RegExp && !subject.test(message.subject)) return false;
  if (typeof subject === 'string' && !message.subject.includes(subject)) return false;
  return true;
}

/** Messages currently in `mailbox` to `to` whose subject matches `subject` (string or RegExp). */
export function emailsTo(mailbox, filter) {
  return mailbox.messages().filter((m) => matches(m, filter));
}

/**
 * Waits until `mailbox` holds a message to `to` whose subject matches `subject`
 * and returns the newest such message; fails after `timeoutMs`.
 */
export async function waitForEmail(mailbox, { to, subject, timeoutMs = DEFAULT_MAIL_TIMEOUT_MS }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = emailsTo(mailbox, { to, subject });
    if (found.length) return found[found.length - 1];
    if (Date.now() > deadline) {
      const seen = mailbox
        .messages()
        .map((m) => `  to ${m.to}: ${m.subject}`)
        .join('\n');
      throw new Error(
        `no email to ${to} with subject ${subject} within ${timeoutMs} ms in ${mailbox.describe}; ` +
          `messages there:\n${seen || '  (none)'}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** The first URL in `body` whose path matches `pathPattern` (a RegExp); fails if there is none. */
export function findLink(body, pathPattern) {
  for (const url of body.match(/https?:\/\/[^\s<>"')]+/g) ?? []) {
    if (pathPattern.test(new URL(url).pathname)) return url;
  }
  throw new Error(`no link matching ${pathPattern} in email body:\n${body}`);
}
