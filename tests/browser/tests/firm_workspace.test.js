// Firm workspace journey: a firm onboarded through the operator API; its
// administrator sets a password from the emailed link, signs in, brands the
// Client Portal, copies the Portal address, invites a member, adds a contact,
// opens a file and names the contact as its primary client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { onboardFirm } from '../lib/api.js';
import { fileMailbox, findLink, waitForEmail } from '../lib/mail.js';
import {
  STEP_TIMEOUT_MS,
  assertHeading,
  assertNotice,
  clickAndWait,
  hexToRgb,
  newPage,
  open,
  screenshotWholePage,
  textOf,
  withServerLog,
} from '../lib/pages.js';
import { launchChromium, screenshot, startServer } from '../lib/server.js';

const FIRM = {
  slug: 'harbor',
  name: 'Harbor Finch LLP',
  adminName: 'Hana Harbor',
  adminEmail: 'hana@harbor.example',
};
const PASSWORD = 'correct horse battery staple 42';
const DISPLAY_NAME = 'Harbor & Finch Client Portal';
const ACCENT = '#8a2be2';
const MEMBER = { name: 'Milo Member', email: 'milo@harbor.example' };
const CONTACT = { name: 'Clara Client', email: 'clara@client.example' };
const FILE = { number: '2026-017', name: 'Clara Client v. Northwind', type: 'Litigation' };

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

test('administrator sets up and uses the firm workspace', { timeout: 90_000 }, async () => {
  const firmUrl = server.baseUrl(FIRM.slug);
  const mailbox = fileMailbox(server.mailDir);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The Copy button writes to the clipboard; let the test read it back.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: firmUrl });
  // The client's browser: no member session, nothing cached.
  const clientContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });

  try {
    // --- Onboarding through the operator API ----------------------------------
    const tenant = await onboardFirm(server, FIRM);
    assert.equal(tenant.slug, FIRM.slug);
    assert.equal(tenant.status, 'active');
    assert.equal(tenant.portal_url, firmUrl, 'the Portal URL is derived from the slug and base domain');

    const setupEmail = await waitForEmail(mailbox, { to: FIRM.adminEmail, subject: /Set up your Portico account/ });
    assert.ok(setupEmail.body.includes(FIRM.adminName), 'the setup email should greet the administrator');
    const setupUrl = findLink(setupEmail.body, /^\/firm\/setup\/[A-Za-z0-9_-]+$/);
    assert.ok(setupUrl.startsWith(`${firmUrl}/firm/setup/`), `setup link should be on the firm's host, got ${setupUrl}`);

    // --- Choose a password ------------------------------------------------
    const admin = await newPage(context);
    const page = admin.page;
    await open(page, setupUrl);
    await assertHeading(page, 'Choose your password');
    assert.ok((await textOf(page, 'main')).includes(FIRM.adminEmail), 'the setup page should name the account');
    await page.fill('#password', PASSWORD);
    await page.fill('#password_confirm', PASSWORD);
    await screenshot(page, 'workspace-setup.png');
    await clickAndWait(page, page.locator('#set-password button[type="submit"]'));
    assert.equal(new URL(page.url()).pathname, '/firm/login', 'setting the password should lead to the sign-in page');
    await assertNotice(page, 'Your password is set');

    // The link works once.
    await open(page, setupUrl, { status: 410 });
    assert.match(await textOf(page, '.notice.error'), /expired or has already been used/);

    // --- Sign in ------------------------------------------------------------
    await open(page, `${firmUrl}/firm/login`);
    await assertHeading(page, `Sign in to ${FIRM.name}`);
    await page.fill('#email', FIRM.adminEmail);
    await page.fill('#password', PASSWORD);
    await clickAndWait(page, page.locator('#member-login button[type="submit"]'));
    assert.equal(new URL(page.url()).pathname, '/firm', 'signing in should open the workspace');
    await assertHeading(page, `Welcome, ${FIRM.adminName}`);

    // --- Options > Client Portal: branding -------------------------------------
    await open(page, `${firmUrl}/firm/options/client-portal`);
    await assertHeading(page, 'Client Portal');
    assert.equal(await page.locator('#enabled').isChecked(), true, 'the portal is enabled for a new firm');
    await page.fill('#display_name', DISPLAY_NAME);
    await page.fill('#accent_color', ACCENT);
    await clickAndWait(page, page.getByRole('button', { name: 'Save options' }));
    await assertNotice(page, 'Options saved');
    assert.equal(await page.inputValue('#display_name'), DISPLAY_NAME, 'the display name should be saved');
    assert.equal((await page.inputValue('#accent_color')).toLowerCase(), ACCENT, 'the accent colour should be saved');
    // The workspace itself now carries the portal's name and colour.
    const brand = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim());
    assert.equal(brand.toLowerCase(), ACCENT, 'the workspace should use the new accent colour');

    // The Portal web address and its Copy button.
    const portalUrl = await textOf(page, '#portal-url');
    assert.equal(portalUrl, firmUrl, '#portal-url should show the firm\'s Portal web address');
    const copy = page.locator('[data-copy="#portal-url"]');
    assert.equal(((await copy.textContent()) ?? '').trim(), 'Copy');
    await copy.click();
    await page.waitForFunction(
      () => document.querySelector('[data-copy="#portal-url"]')?.textContent?.trim() === 'Copied',
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clipboard, portalUrl, 'Copy should put the Portal web address on the clipboard');
    await screenshotWholePage(page, 'workspace-options.png');
    await page.waitForFunction(
      () => document.querySelector('[data-copy="#portal-url"]')?.textContent?.trim() === 'Copy',
      null,
      { timeout: STEP_TIMEOUT_MS },
    );

    // --- The client sign-in page shows the branding -------------------------------
    const client = await newPage(clientContext);
    await open(client.page, `${firmUrl}/`);
    await assertHeading(client.page, `Sign in to ${DISPLAY_NAME}`);
    await client.page.locator('#client-login').waitFor({ state: 'visible' });
    assert.ok((await client.page.title()).includes(DISPLAY_NAME), 'the page title should carry the display name');
    const brandingCss = await client.page.evaluate(async () => {
      const res = await fetch('/branding.css', { cache: 'no-store' });
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    });
    assert.equal(brandingCss.status, 200, '/branding.css should answer 200');
    assert.match(brandingCss.type ?? '', /^text\/css/);
    assert.ok(brandingCss.text.toLowerCase().includes(ACCENT), `/branding.css should contain ${ACCENT}, got ${JSON.stringify(brandingCss.text)}`);
    const buttonColour = await client.page
      .locator('#client-login button[type="submit"]')
      .evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(buttonColour, hexToRgb(ACCENT), 'the sign-in button should be painted in the accent colour');
    await screenshot(client.page, 'client-login-branded.png');

    // --- Members: invite a colleague ------------------------------------------
    await open(page, `${firmUrl}/firm/members`);
    await assertHeading(page, 'Members');
    await page.fill('#invite-name', MEMBER.name);
    await page.fill('#invite-email', MEMBER.email);
    await page.check('#invite-portal');
    await clickAndWait(page, page.locator('#invite-form button[type="submit"]'));
    await assertNotice(page, `${MEMBER.name} has been added`);
    const memberRow = page.locator('#members tr.member-row', { hasText: MEMBER.email });
    await memberRow.waitFor({ state: 'visible' });
    assert.ok(((await memberRow.textContent()) ?? '').includes(MEMBER.name));
    assert.equal((await memberRow.locator('.badge.pending').textContent())?.trim(), 'Setup pending');
    assert.equal(await memberRow.locator('.badge.portal').count(), 1, 'the new member should hold the Portal right');
    assert.equal(await page.locator('#members tr.member-row').count(), 2, 'two members: the administrator and the new one');
    const memberEmail = await waitForEmail(mailbox, { to: MEMBER.email, subject: /invited you to/ });
    findLink(memberEmail.body, /^\/firm\/setup\/[A-Za-z0-9_-]+$/);
    await screenshot(page, 'workspace-members.png');

    // --- Contacts: add a contact ------------------------------------------------
    await open(page, `${firmUrl}/firm/contacts`);
    await assertHeading(page, 'Contacts');
    await page.fill('#contact-name', CONTACT.name);
    await page.fill('#contact-emails', CONTACT.email);
    await clickAndWait(page, page.getByRole('button', { name: 'Add contact' }));
    await assertNotice(page, 'Contact added.');
    await assertHeading(page, CONTACT.name);
    const contactId = new URL(page.url()).pathname.split('/').pop();
    assert.match(contactId, /^[0-9a-f-]{36}$/, 'the contact page address should carry its id');
    assert.equal(await page.inputValue('#contact-emails'), CONTACT.email);
    assert.equal(await textOf(page, '#portal-status'), 'Not invited');
    await open(page, `${firmUrl}/firm/contacts`);
    const contactRow = page.locator(`#contacts tr[data-id="${contactId}"]`);
    await contactRow.waitFor({ state: 'visible' });
    const contactRowText = (await contactRow.textContent()) ?? '';
    assert.ok(contactRowText.includes(CONTACT.name) && contactRowText.includes(CONTACT.email), 'the list should show the contact');
    await screenshot(page, 'workspace-contact.png');

    // --- Files: open a file and name the primary client ------------------------------
    await open(page, `${firmUrl}/firm/files`);
    await assertHeading(page, 'Files');
    await page.fill('#file-number', FILE.number);
    await page.fill('#file-name', FILE.name);
    await page.fill('#file-type', FILE.type);
    await page.selectOption('#file-lawyer', { label: FIRM.adminName });
    await clickAndWait(page, page.getByRole('button', { name: 'Open file' }));
    await assertNotice(page, 'File opened.');
    await assertHeading(page, FILE.name);
    const fileId = new URL(page.url()).pathname.split('/').pop();
    assert.match(fileId, /^[0-9a-f-]{36}$/, 'the file page address should carry its id');
    assert.ok((await textOf(page, '.eyebrow')).includes(FILE.number));
    assert.equal(await page.locator('#people-table').count(), 0, 'a new file has no clients');

    await page.selectOption('#person-contact', contactId);
    await page.check('#person-form input[name="primary"]');
    await clickAndWait(page, page.getByRole('button', { name: 'Add client' }));
    await assertNotice(page, 'Client added to the file.');
    const personRow = page.locator(`#people-table tr[data-contact="${contactId}"]`);
    await personRow.waitFor({ state: 'visible' });
    assert.ok(((await personRow.textContent()) ?? '').includes(CONTACT.name));
    assert.equal((await personRow.locator('.badge.primary').textContent())?.trim(), 'Primary');
    assert.equal(await page.locator('.notice.warn', { hasText: 'no primary client' }).count(), 0);
    assert.ok((await textOf(page, '#portal-without-access')).includes(CONTACT.name), 'the client has no Portal access yet');
    await screenshot(page, 'workspace-file.png');

    // The file list and the contact agree.
    await open(page, `${firmUrl}/firm/files`);
    const fileRow = page.locator(`#files tr[data-id="${fileId}"]`);
    await fileRow.waitFor({ state: 'visible' });
    const fileRowText = ((await fileRow.textContent()) ?? '').replace(/\s+/g, ' ');
    for (const expected of [FILE.number, FILE.name, FILE.type, FIRM.adminName, CONTACT.name]) {
      assert.ok(fileRowText.includes(expected), `the file row should show ${JSON.stringify(expected)}, got ${JSON.stringify(fileRowText)}`);
    }
    await open(page, `${firmUrl}/firm/contacts/${contactId}`);
    const onFile = page.locator(`#contact-files tr[data-id="${fileId}"]`);
    await onFile.waitFor({ state: 'visible' });
    assert.match(((await onFile.textContent()) ?? '').replace(/\s+/g, ' '), /Client\s*Primary/);

    assert.deepEqual(admin.problems, [], 'workspace pages had browser errors');
    assert.deepEqual(client.problems, [], 'client sign-in page had browser errors');
  } catch (err) {
    throw withServerLog(err, server);
  } finally {
    await context.close().catch(() => {});
    await clientContext.close().catch(() => {});
  }
});
