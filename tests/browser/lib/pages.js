// Page helpers shared by the journeys: pages that record browser problems,
// form submissions that wait for the page they land on, common assertions.
import assert from 'node:assert/strict';
import { screenshot } from './server.js';

export const STEP_TIMEOUT_MS = 15_000;

/**
 * A page with default timeouts on every wait that records problems a person
 * would notice: uncaught script errors, console errors and failed
 * sub-resources. Main-document statuses are asserted by the tests.
 */
export async function newPage(context, { timeoutMs = STEP_TIMEOUT_MS } = {}) {
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.setDefaultNavigationTimeout(timeoutMs);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium logs every 4xx as "Failed to load resource"; sub-resources are checked below.
    if (/^Failed to load resource: the server responded with a status of/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on('requestfailed', (req) => {
    // A navigation replaced by the next one is not a problem.
    if (req.failure()?.errorText === 'net::ERR_ABORTED' && req.isNavigationRequest()) return;
    if (isCancelledIcon(req)) return;
    problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  page.on('response', (res) => {
    if (res.request().isNavigationRequest()) return;
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  return { page, problems };
}

/**
 * Whether a failed request is the page's icon cancelled: the browser fetches it after the
 * load event, so a test that moves on at once cancels it, which no person would notice.
 */
export function isCancelledIcon(req) {
  return req.failure()?.errorText === 'net::ERR_ABORTED' && new URL(req.url()).pathname === '/static/favicon.svg';
}

/** Goes to `url` and asserts the document's status (200 unless told). */
export async function open(page, url, { status = 200 } = {}) {
  const res = await page.goto(url, { timeout: STEP_TIMEOUT_MS });
  assert.equal(res?.status(), status, `GET ${url} should answer ${status}`);
  return res;
}

/**
 * Clicks `locator` (a submit button or link) and waits for the page it leads
 * to; asserts that page's status (200 unless told) and returns the response.
 */
export async function clickAndWait(page, locator, { status = 200, timeoutMs = STEP_TIMEOUT_MS } = {}) {
  const [res] = await Promise.all([page.waitForNavigation({ timeout: timeoutMs }), locator.click({ timeout: timeoutMs })]);
  assert.equal(res?.status(), status, `after clicking, ${page.url()} should answer ${status}`);
  return res;
}

/** The trimmed text of the first match of `selector` (waits for it to be visible). */
export async function textOf(page, selector) {
  const el = page.locator(selector).first();
  await el.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  return ((await el.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

export async function assertHeading(page, expected) {
  const text = await textOf(page, 'h1');
  assert.ok(text.includes(expected), `expected <h1> on ${page.url()} to contain ${JSON.stringify(expected)}, got ${JSON.stringify(text)}`);
}

/** Asserts a success notice containing `expected` (string or RegExp) and no error notice. */
export async function assertNotice(page, expected) {
  const text = await textOf(page, '.notice.success');
  if (expected instanceof RegExp) assert.match(text, expected, `success notice on ${page.url()}`);
  else assert.ok(text.includes(expected), `success notice on ${page.url()} should contain ${JSON.stringify(expected)}, got ${JSON.stringify(text)}`);
  const errors = await page.locator('.notice.error').allTextContents();
  assert.deepEqual(errors, [], `no error notice expected on ${page.url()}`);
}

/** Appends the tail of the server's log to a failure, for diagnosis. */
export function withServerLog(err, server, lines = 40) {
  if (err && typeof err === 'object' && server) {
    err.message += `\n--- portico log (tail) ---\n${server.logs().split('\n').slice(-lines).join('\n')}`;
  }
  return err;
}

/** `#rrggbb` as the `rgb(r, g, b)` that getComputedStyle reports. */
export function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
}

/**
 * Full-page screenshot taken with the viewport stretched to the whole page,
 * so sticky bars (e.g. a form's Save bar) are drawn where they rest instead of
 * floating over the middle of the image; the viewport is restored afterwards.
 */
export async function screenshotWholePage(page, name) {
  const viewport = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  if (viewport) await page.setViewportSize({ width: viewport.width, height: Math.min(height, 10_000) });
  try {
    return await screenshot(page, name);
  } finally {
    if (viewport) await page.setViewportSize(viewport);
  }
}
