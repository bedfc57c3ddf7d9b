// JSON API calls for setting up test data quickly.
//
// Node does not resolve `<firm>.localhost` the way browsers do, so requests go
// to the loopback address with the firm's host in the `Host` header, which is
// all Portico looks at to pick the firm.
import { request as httpRequest } from 'node:http';
import { findLink, waitForEmail } from './mail.js';

const REQUEST_TIMEOUT_MS = 15_000;

/**
 * A small `fetch`-like request: `{ method, headers, json, timeoutMs }`.
 * Resolves to `{ status, headers, text, json() }`.
 */
export function request(url, { method = 'GET', headers = {}, json, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const target = new URL(url);
  const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
  const allHeaders = { Host: target.host, Accept: 'application/json', ...headers };
  if (body) {
    allHeaders['Content-Type'] = 'application/json';
    allHeaders['Content-Length'] = String(body.length);
  }
  return new Promise((resolveRequest, rejectRequest) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: target.port || 80,
        path: `${target.pathname}${target.search}`,
        method,
        headers: allHeaders,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', rejectRequest);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolveRequest({
            status: res.statusCode,
            headers: res.headers,
            text,
            json: () => JSON.parse(text),
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', rejectRequest);
    if (body) req.write(body);
    req.end();
  });
}

/**
 * Calls a JSON endpoint and returns the parsed answer (or `null` when empty);
 * throws with the status and body unless the status is one of `expect`.
 */
export async function callApi(url, { method = 'GET', token, json, expect = [200, 201, 204] } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await request(url, { method, headers, json });
  const expected = Array.isArray(expect) ? expect : [expect];
  if (!expected.includes(res.status)) {
    throw new Error(`${method} ${url} answered ${res.status} (expected ${expected.join(' or ')}): ${res.text}`);
  }
  return res.text ? res.json() : null;
}

/** Onboards a firm through the operator API; returns the created tenant. */
export function onboardFirm(server, { slug, name, adminEmail, adminName }) {
  return callApi(`${server.baseUrl()}/api/v1/platform/tenants`, {
    method: 'POST',
    token: server.operatorToken,
    json: { slug, name, admin_email: adminEmail, admin_name: adminName },
    expect: 201,
  });
}

/**
 * The firm API of `slug` (`/api/v1/firm`), optionally signed in with `token`:
 * `{ get(path), post(path, json), put(path, json), patch(path, json), delete(path) }`.
 */
export function firmApi(server, slug, token) {
  const base = `${server.baseUrl(slug)}/api/v1/firm`;
  const call = (method) => (path, json, expect) =>
    callApi(`${base}${path}`, { method, token, json, ...(expect ? { expect } : {}) });
  return {
    base,
    get: call('GET'),
    post: call('POST'),
    put: call('PUT'),
    patch: call('PATCH'),
    delete: call('DELETE'),
  };
}

/** Completes a member's setup link (`…/firm/setup/<token>`) through the API. */
export function completeMemberSetup(server, slug, setupUrl, password) {
  const token = new URL(setupUrl).pathname.split('/').pop();
  return firmApi(server, slug).post(`/setup/${token}`, { password });
}

/** Signs a member in through the API; returns `{ token, csrf_token, member, … }`. */
export function signInMember(server, slug, email, password) {
  return firmApi(server, slug).post('/session', { email, password });
}

/**
 * Onboards `firm` (`{ slug, name, adminEmail, adminName }`), sets its administrator's password
 * from the setup link emailed to `mailbox` and signs them in. Resolves to `{ session, api }`:
 * the member session and the firm API signed in with it.
 */
export async function firmWithAdmin(server, mailbox, firm, password) {
  await onboardFirm(server, firm);
  const setupEmail = await waitForEmail(mailbox, { to: firm.adminEmail, subject: /Set up your Portico account/ });
  await completeMemberSetup(server, firm.slug, findLink(setupEmail.body, /^\/firm\/setup\/[A-Za-z0-9_-]+$/), password);
  const session = await signInMember(server, firm.slug, firm.adminEmail, password);
  return { session, api: firmApi(server, firm.slug, session.token) };
}

/** Accepts a Portal invitation link (`…/invitations/<token>`) through the API, terms accepted. */
export function acceptInvitation(server, slug, invitationUrl, password) {
  const token = new URL(invitationUrl).pathname.split('/').pop();
  return callApi(`${server.baseUrl(slug)}/api/v1/portal/invitations/${token}/accept`, {
    method: 'POST',
    json: { accept_terms: true, password },
  });
}
