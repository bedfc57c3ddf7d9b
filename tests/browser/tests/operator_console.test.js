// Operator journey: sign in to the console, onboard a firm, visit its portal,
// suspend and reactivate it, and check unknown firms are not served.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchChromium, screenshot, startServer } from '../lib/server.js';
import { isCancelledIcon } from '../lib/pages.js';

const ACME = {
  name: 'Acme Law LLP',
  slug: 'acme',
  adminName: 'Ada Admin',
  adminEmail: 'ada@acme.example',
};

const STEP_TIMEOUT_MS = 15_000;

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

/** Appends the tail of the server log to a failure, for diagnosis. */
function withServerLog(err) {
  if (err && typeof err === 'object' && server) {
    err.message += `\n--- portico log (tail) ---\n${server.logs().split('\n').slice(-30).join('\n')}`;
  }
  return err;
}

/**
 * A page that records problems a person would notice: uncaught script
 * errors, console errors and failed sub-resources (stylesheets, scripts).
 * Main-document statuses are asserted by the tests themselves.
 */
async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium logs every 4xx as "Failed to load resource"; main-document
    // statuses are asserted by the tests and sub-resources by 'response' below.
    if (/^Failed to load resource: the server responded with a status of/.test(text)) return;
    // The slug field's invalid pattern has its own test below.
    if (/^Pattern attribute value .* is not a valid regular expression/.test(text)) return;
    problems.push(`console error: ${text}`);
  });
  page.on('requestfailed', (req) => {
    if (isCancelledIcon(req)) return;
    problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  page.on('response', (res) => {
    if (res.request().isNavigationRequest()) return;
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  return { page, problems };
}

/** Asserts the page's stylesheet was applied (the layout is not raw HTML). */
async function assertStyled(page) {
  const styled = await page.evaluate(() => {
    const sheets = [...document.styleSheets].filter((s) => s.href && s.href.includes('/static/app.css'));
    let rules = 0;
    for (const sheet of sheets) {
      try {
        rules += sheet.cssRules.length;
      } catch {
        // unreadable sheet counts as empty
      }
    }
    const main = document.querySelector('main.container');
    const maxWidth = main ? getComputedStyle(main).maxWidth : 'none';
    return { sheets: sheets.length, rules, maxWidth };
  });
  assert.equal(styled.sheets, 1, `app.css should be applied to ${page.url()}`);
  assert.ok(styled.rules > 10, `app.css should contain rules on ${page.url()}, found ${styled.rules}`);
  assert.notEqual(styled.maxWidth, 'none', `main.container should be width-constrained by app.css on ${page.url()}`);
}

async function assertHeading(page, expected) {
  const h1 = page.locator('h1').first();
  await h1.waitFor({ state: 'visible' });
  const text = ((await h1.textContent()) ?? '').trim();
  assert.ok(text.includes(expected), `expected <h1> to contain ${JSON.stringify(expected)}, got ${JSON.stringify(text)}`);
}

async function tenantRow(page, slug) {
  const row = page.locator(`#tenants tr[data-slug="${slug}"]`);
  await row.waitFor({ state: 'visible' });
  return row;
}

async function badgeText(row) {
  return ((await row.locator('.badge').textContent()) ?? '').trim();
}

/** Signs in to the operator console on `page` and waits for the firm list. */
async function signIn(page) {
  const consoleUrl = `${server.baseUrl()}/`;
  await page.goto(consoleUrl);
  await page.fill('#token', server.operatorToken);
  await Promise.all([page.waitForURL(consoleUrl), page.getByRole('button', { name: 'Sign in' }).click()]);
  await page.locator('#create-tenant').waitFor({ state: 'visible' });
}

/** Fills and submits the onboarding form; returns the response of the page it lands on. */
async function onboard(page, firm) {
  await page.fill('#create-tenant #name', firm.name);
  await page.fill('#create-tenant #slug', firm.slug);
  await page.fill('#create-tenant #admin_name', firm.adminName);
  await page.fill('#create-tenant #admin_email', firm.adminEmail);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Create firm' }).click(),
  ]);
  return response;
}

/** Presses the row's Suspend/Reactivate button from a fresh console load; returns the row after. */
async function pressRowButton(page, slug, label) {
  const res = await page.goto(`${server.baseUrl()}/`);
  assert.equal(res?.status(), 200, 'operator console should answer 200');
  const row = await tenantRow(page, slug);
  await Promise.all([page.waitForNavigation(), row.getByRole('button', { name: label }).click()]);
  return tenantRow(page, slug);
}

test('operator onboards, suspends and reactivates a firm', { timeout: 90_000 }, async () => {
  const consoleUrl = `${server.baseUrl()}/`;
  const acmeUrl = `${server.baseUrl(ACME.slug)}/`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // A second, cache-less browser: a client arriving at the portal for the first time.
  const visitorContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });

  try {
    const operator = await newPage(context);
    const page = operator.page;

    // --- Operator sign-in -------------------------------------------------
    let res = await page.goto(consoleUrl);
    assert.equal(res?.status(), 200, 'operator login page should answer 200');
    await assertHeading(page, 'Operator console');
    await page.locator('#token').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#token').getAttribute('type'), 'password', 'token input should be masked');
    await assertStyled(page);
    await screenshot(page, 'operator-login.png');

    // A wrong token is refused and the console stays locked.
    await page.fill('#token', 'definitely-not-the-operator-token');
    const [refused] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    assert.equal(refused?.status(), 401, 'a wrong operator token should be answered with 401');
    assert.equal(await page.locator('#create-tenant').count(), 0, 'console must stay locked for a wrong token');
    assert.equal(await page.locator('.notice.error').count(), 1, 'a wrong token should show an error notice');

    await page.fill('#token', server.operatorToken);
    await Promise.all([page.waitForURL(consoleUrl), page.getByRole('button', { name: 'Sign in' }).click()]);
    await assertHeading(page, 'Firms');
    await page.locator('#create-tenant').waitFor({ state: 'visible' });

    // --- Onboard a firm ---------------------------------------------------
    const created = await onboard(page, ACME);
    assert.equal(created?.status(), 200, 'console after onboarding should answer 200');
    const notice = page.locator('.notice.success');
    await notice.waitFor({ state: 'visible' });
    const noticeText = ((await notice.textContent()) ?? '').trim();
    assert.match(
      noticeText,
      new RegExp(`${ACME.name} is onboarded at http://${ACME.slug}\\.localhost:${server.port}`),
      `success notice should confirm ${ACME.name} was onboarded, got ${JSON.stringify(noticeText)}`,
    );
    assert.equal(await page.locator('.notice.error').count(), 0, 'no error notice after onboarding');

    let row = await tenantRow(page, ACME.slug);
    assert.equal(await badgeText(row), 'active');
    assert.ok(((await row.textContent()) ?? '').includes(ACME.name), 'row should show the firm name');
    const portalHref = (await row.locator('a').first().getAttribute('href')) ?? '';
    assert.ok(
      portalHref.startsWith(server.baseUrl(ACME.slug)),
      `row should link to ${server.baseUrl(ACME.slug)}, got ${JSON.stringify(portalHref)}`,
    );
    await row.getByRole('button', { name: 'Suspend' }).waitFor({ state: 'visible' });
    await assertStyled(page);
    await screenshot(page, 'operator-console.png');

    // --- Firm login page and workspace -------------------------------------
    const firm = await newPage(context);
    res = await firm.page.goto(acmeUrl);
    assert.equal(res?.status(), 200, 'active firm login page should answer 200');
    await assertHeading(firm.page, `Sign in to ${ACME.name}`);
    await firm.page.locator('#client-login').waitFor({ state: 'visible' });
    await assertStyled(firm.page);
    await screenshot(firm.page, 'firm-login.png');

    // The workspace needs a member session: a visitor is sent to the firm's sign-in page
    // (the signed-in workspace is covered by firm_workspace.test.js).
    res = await firm.page.goto(`${server.baseUrl(ACME.slug)}/firm`);
    assert.equal(res?.status(), 200, 'firm workspace should lead to a page answering 200');
    assert.equal(new URL(firm.page.url()).pathname, '/firm/login', 'a visitor should be sent to the firm sign-in page');
    await assertHeading(firm.page, `Sign in to ${ACME.name}`);
    await firm.page.locator('#member-login').waitFor({ state: 'visible' });
    await assertStyled(firm.page);
    await screenshot(firm.page, 'firm-member-login.png');

    // --- Suspend ----------------------------------------------------------
    row = await pressRowButton(page, ACME.slug, 'Suspend');
    assert.equal(await badgeText(row), 'suspended');
    await row.getByRole('button', { name: 'Reactivate' }).waitFor({ state: 'visible' });
    assert.equal(await row.getByRole('button', { name: 'Suspend' }).count(), 0, 'no Suspend button once suspended');
    const suspendNotice = ((await page.locator('.notice.success').textContent()) ?? '').trim();
    assert.ok(suspendNotice.includes('suspended'), `suspend should be confirmed, got ${JSON.stringify(suspendNotice)}`);

    for (const path of ['/', '/firm']) {
      res = await firm.page.goto(`${server.baseUrl(ACME.slug)}${path}`);
      assert.equal(res?.status(), 403, `suspended firm ${path} should answer 403`);
      const body = await firm.page.locator('body').innerText();
      assert.match(body, /suspended/i, `403 page for ${path} should mention "suspended", got ${JSON.stringify(body)}`);
      assert.equal(await firm.page.locator('#client-login, #portal-url').count(), 0, `${path} must not render firm content`);
    }

    // What a client sees when arriving at a suspended portal.
    const visitor = await newPage(visitorContext);
    res = await visitor.page.goto(acmeUrl);
    assert.equal(res?.status(), 403, 'suspended firm should answer 403 to a new visitor');
    assert.match(await visitor.page.locator('body').innerText(), /suspended/i);
    await screenshot(visitor.page, 'firm-suspended.png');

    // --- Reactivate -------------------------------------------------------
    row = await pressRowButton(page, ACME.slug, 'Reactivate');
    assert.equal(await badgeText(row), 'active');
    await row.getByRole('button', { name: 'Suspend' }).waitFor({ state: 'visible' });

    res = await firm.page.goto(acmeUrl);
    assert.equal(res?.status(), 200, 'reactivated firm login page should answer 200');
    await assertHeading(firm.page, `Sign in to ${ACME.name}`);
    await firm.page.locator('#client-login').waitFor({ state: 'visible' });

    // --- Unknown firm -----------------------------------------------------
    res = await visitor.page.goto(`${server.baseUrl('nosuchfirm')}/`);
    assert.equal(res?.status(), 404, 'unknown firm should answer 404');
    assert.equal(await visitor.page.locator('#client-login').count(), 0, 'no login form for an unknown firm');

    assert.deepEqual(operator.problems, [], 'operator console had browser errors');
    assert.deepEqual(firm.problems, [], 'firm pages had browser errors');
    // visitor.problems is not checked here: see the error-page styling test below.
  } catch (err) {
    throw withServerLog(err);
  } finally {
    await context.close().catch(() => {});
    await visitorContext.close().catch(() => {});
  }
});

// Browsers compile an input's `pattern` with the RegExp `v` flag, where an
// unescaped `-` inside a character class is a syntax error that makes Chromium
// ignore the pattern; this keeps the slug field's check working in the browser.
test(
  'slug field pattern compiles and rejects malformed slugs in the browser',
  {
    timeout: 30_000,
  },
  async () => {
    const context = await browser.newContext();
    try {
      const { page } = await newPage(context);
      await signIn(page);
      const slug = page.locator('#create-tenant #slug');
      const pattern = await slug.getAttribute('pattern');
      assert.ok(pattern, '#slug should carry a pattern attribute');
      const compileError = await page.evaluate((p) => {
        try {
          new RegExp(`^(?:${p})$`, 'v');
          return null;
        } catch (err) {
          return String(err.message);
        }
      }, pattern);
      assert.equal(compileError, null, `#slug pattern does not compile as an HTML pattern: ${compileError}`);

      await slug.fill('Not_A_Slug!');
      assert.equal(await slug.evaluate((el) => el.validity.patternMismatch), true, 'a malformed slug should fail the pattern');
      await slug.fill('good-slug-1');
      assert.equal(await slug.evaluate((el) => el.validity.valid), true, 'a well-formed slug should be valid');
    } catch (err) {
      throw withServerLog(err);
    } finally {
      await context.close().catch(() => {});
    }
  },
);

// Static assets load on every host, so the 403/404 pages of suspended and
// unknown firms are styled for a visitor with nothing cached.
test(
  'error pages on suspended and unknown firm hosts are styled',
  {
    timeout: 30_000,
  },
  async () => {
    const operatorContext = await browser.newContext();
    const visitorContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const globex = { name: 'Globex Legal', slug: 'globex', adminName: 'Gil Admin', adminEmail: 'gil@globex.example' };
    try {
      const { page } = await newPage(operatorContext);
      await signIn(page);
      assert.equal((await onboard(page, globex))?.status(), 200);
      const row = await pressRowButton(page, globex.slug, 'Suspend');
      assert.equal(await badgeText(row), 'suspended');

      for (const [slug, status] of [
        [globex.slug, 403],
        ['nosuchfirm', 404],
      ]) {
        const visitor = await newPage(visitorContext);
        const res = await visitor.page.goto(`${server.baseUrl(slug)}/`);
        assert.equal(res?.status(), status);
        await assertStyled(visitor.page);
        assert.deepEqual(visitor.problems, [], `${slug} error page had browser errors`);
        await visitor.page.close();
      }
    } catch (err) {
      throw withServerLog(err);
    } finally {
      await operatorContext.close().catch(() => {});
      await visitorContext.close().catch(() => {});
    }
  },
);
