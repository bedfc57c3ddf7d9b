// Client Portal access journey, with every email delivered through a real SMTP
// server: a member invites a client from the contact's Manage Portal section,
// the client accepts the invitation, signs in and sees the shared file; when
// the member disables access the client's open session ends at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { completeMemberSetup, firmApi, onboardFirm, signInMember } from '../lib/api.js';
import { emailsTo, findLink, waitForEmail } from '../lib/mail.js';
import { assertHeading, assertNotice, clickAndWait, newPage, open, textOf, withServerLog } from '../lib/pages.js';
import { launchChromium, screenshot, startServer } from '../lib/server.js';
import { startSmtpServer } from '../lib/smtp.js';

const FIRM = {
  slug: 'lindqvist',
  name: 'Lindqvist Partners',
  adminName: 'Lena Lindqvist',
  adminEmail: 'lena@lindqvist.example',
};
const MEMBER_PASSWORD = 'correct horse battery staple 42';
const CLIENT = {
  name: 'Oskar Olsen',
  emails: ['oskar@home.example', 'oskar.olsen@work.example'],
  // The second address becomes the login name, so the choice in the form matters.
  loginEmail: 'oskar.olsen@work.example',
  password: 'tangerine bicycle under moonlight 7',
};
const SHARED_FILE = { number: '2026-031', name: 'Olsen estate', file_type: 'Probate' };
const OTHER_FILE = { number: '2026-032', name: 'Olsen lease dispute', file_type: 'Litigation' };
const PERSONAL_LINE = 'Dear Oskar, as promised on the phone, here is your access.';

let smtp;
let server;
let browser;

before(async () => {
  smtp = await startSmtpServer();
  try {
    server = await startServer({
      env: {
        PORTICO_MAIL__TRANSPORT: 'smtp',
        PORTICO_MAIL__SMTP_HOST: '127.0.0.1',
        PORTICO_MAIL__SMTP_PORT: String(smtp.port),
        PORTICO_MAIL__SMTP_TLS: 'none',
        PORTICO_MAIL__POLL_INTERVAL_MS: '200',
      },
    });
    browser = await launchChromium();
  } catch (err) {
    await server?.stop().catch(() => {});
    await smtp.stop();
    throw err;
  }
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop().catch(() => {});
  await smtp?.stop();
});

/** The firm, its administrator signed in through the API, a client contact on two files. */
async function setUpFirm() {
  await onboardFirm(server, FIRM);
  const setupEmail = await waitForEmail(smtp.mailbox, { to: FIRM.adminEmail, subject: /Set up your Portico account/ });
  const setupUrl = findLink(setupEmail.body, /^\/firm\/setup\/[A-Za-z0-9_-]+$/);
  await completeMemberSetup(server, FIRM.slug, setupUrl, MEMBER_PASSWORD);
  const session = await signInMember(server, FIRM.slug, FIRM.adminEmail, MEMBER_PASSWORD);
  const api = firmApi(server, FIRM.slug, session.token);

  const contact = await api.post('/contacts', { name: CLIENT.name, emails: CLIENT.emails });
  const files = {};
  for (const [key, file] of Object.entries({ shared: SHARED_FILE, other: OTHER_FILE })) {
    files[key] = await api.post('/files', {
      ...file,
      status: 'open',
      responsible_lawyer_id: session.member.id,
      member_ids: [],
    });
    await api.post(`/files/${files[key].id}/people`, { contact_id: contact.id, role: 'client', primary: true });
  }
  return { api, contact, files };
}

test('member invites a client, the client signs in, the member disables access', { timeout: 100_000 }, async () => {
  const firmUrl = server.baseUrl(FIRM.slug);
  const memberContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const clientContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });

  try {
    const { api, contact, files } = await setUpFirm();
    const contactUrl = `${firmUrl}/firm/contacts/${contact.id}`;

    // --- The member signs in and opens the contact ---------------------------------
    const member = await newPage(memberContext);
    const page = member.page;
    await open(page, contactUrl);
    assert.equal(new URL(page.url()).pathname, '/firm/login', 'the contact page needs a member session');
    await page.fill('#email', FIRM.adminEmail);
    await page.fill('#password', MEMBER_PASSWORD);
    await clickAndWait(page, page.locator('#member-login button[type="submit"]'));
    assert.equal(page.url(), contactUrl, 'signing in should return to the contact page');
    await assertHeading(page, CLIENT.name);

    // --- Manage Portal: invite -------------------------------------------------------
    const portal = page.locator('#portal');
    await portal.waitFor({ state: 'visible' });
    assert.equal(await textOf(page, '#portal-status'), 'Not invited');
    const allow = portal.getByLabel('Allow this contact to access the Portal');
    assert.equal(await allow.isChecked(), false, 'access is not allowed before the invitation');
    const loginSelect = portal.locator('#portal-login');
    assert.deepEqual(
      await loginSelect.locator('option').evaluateAll((options) => options.map((o) => o.value)),
      CLIENT.emails,
      'the login name is chosen among the contact\'s email addresses',
    );
    const sharedBox = portal.locator(`input[type="checkbox"][name="file_${files.shared.id}"]`);
    const otherBox = portal.locator(`input[type="checkbox"][name="file_${files.other.id}"]`);
    // A client on two files: nothing is preselected.
    assert.equal(await sharedBox.isChecked(), false);
    assert.equal(await otherBox.isChecked(), false);
    const message = portal.locator('#portal-message');
    const template = await message.inputValue();
    assert.ok(template.includes('{setup_link}'), 'the invitation text should hold the {setup_link} placeholder');

    await allow.check();
    await loginSelect.selectOption(CLIENT.loginEmail);
    await sharedBox.check();
    await message.fill(`${PERSONAL_LINE}\n\n${template}`);
    await clickAndWait(page, portal.getByRole('button', { name: 'Send Invitation' }));
    assert.equal(new URL(page.url()).pathname, `/firm/contacts/${contact.id}`);
    await assertNotice(page, 'Invitation sent.');
    assert.match(await textOf(page, '#portal-status'), /^Invited \(expires .+\)$/);
    assert.equal(await textOf(page, '#portal-login-name'), CLIENT.loginEmail);
    const sharedList = await textOf(page, '#portal-shared');
    assert.ok(sharedList.includes(SHARED_FILE.number), `the shared file should be listed, got ${JSON.stringify(sharedList)}`);
    assert.ok(!sharedList.includes(OTHER_FILE.number), 'the file left unticked must not be shared');
    await page.locator('#portal-resend').waitFor({ state: 'visible' });
    await screenshot(page, 'portal-contact-invited.png');

    // --- The invitation email, delivered over SMTP -------------------------------------
    const invitation = await waitForEmail(smtp.mailbox, { to: CLIENT.loginEmail, subject: /invites you to its Client Portal/ });
    assert.ok(invitation.body.includes(PERSONAL_LINE), 'the member\'s own words should be in the invitation');
    assert.ok(!invitation.body.includes('{setup_link}'), 'the placeholder should be replaced by the link');
    const invitationUrl = findLink(invitation.body, /^\/invitations\/[A-Za-z0-9_-]+$/);
    assert.ok(invitationUrl.startsWith(`${firmUrl}/invitations/`), `invitation link should be on the firm's host, got ${invitationUrl}`);
    assert.equal(
      emailsTo(smtp.mailbox, { to: CLIENT.emails[0], subject: /invites you/ }).length,
      0,
      'nothing goes to the address not chosen as the login name',
    );

    // --- The client accepts the invitation ----------------------------------------------
    const client = await newPage(clientContext);
    const cpage = client.page;
    await open(cpage, invitationUrl);
    await assertHeading(cpage, 'Client Portal');
    assert.ok((await textOf(cpage, 'main')).includes(CLIENT.loginEmail), 'the invitation page should show the login name');
    assert.ok((await textOf(cpage, '#terms')).length > 0, 'the terms of service should be shown');
    assert.equal(await cpage.locator('#accept_terms').isChecked(), false, 'the terms are not accepted for the client');
    await screenshot(cpage, 'portal-invitation.png');

    await cpage.check('#accept_terms');
    await cpage.fill('#password', CLIENT.password);
    await cpage.fill('#password_confirm', CLIENT.password);
    await clickAndWait(cpage, cpage.locator('#client-password button[type="submit"]'));
    await assertHeading(cpage, 'Account Created');
    assert.ok((await textOf(cpage, '.notice.success')).includes(CLIENT.loginEmail), 'the login name should be confirmed');
    await cpage.locator('#go-login').waitFor({ state: 'visible' });
    await screenshot(cpage, 'portal-account-created.png');

    // Confirmation to the client (login name, never the password) and a note to the lawyer.
    const ready = await waitForEmail(smtp.mailbox, { to: CLIENT.loginEmail, subject: /Client Portal account is ready/ });
    assert.ok(ready.body.includes(`Login name: ${CLIENT.loginEmail}`), 'the confirmation should give the login name');
    assert.ok(!ready.raw.includes(CLIENT.password), 'the confirmation must not contain the password');
    const joined = await waitForEmail(smtp.mailbox, { to: FIRM.adminEmail, subject: `${CLIENT.name} joined the Client Portal` });
    assert.ok(joined.body.includes(SHARED_FILE.number), 'the responsible lawyer is told which file is shared');

    // The link works once.
    const reuse = await newPage(clientContext);
    await open(reuse.page, invitationUrl, { status: 410 });
    await reuse.page.close();

    // --- The client signs in ---------------------------------------------------------
    await clickAndWait(cpage, cpage.locator('#go-login'));
    assert.equal(new URL(cpage.url()).pathname, '/');
    await cpage.locator('#client-login').waitFor({ state: 'visible' });
    await cpage.fill('#email', CLIENT.loginEmail);
    await cpage.fill('#password', CLIENT.password);
    await clickAndWait(cpage, cpage.locator('#client-login button[type="submit"]'));
    await assertHeading(cpage, `Welcome, ${CLIENT.name}`);
    const fileLink = cpage.locator(`#files-tile a[href="/files/${files.shared.id}"]`);
    await fileLink.waitFor({ state: 'visible' });
    assert.ok(((await fileLink.textContent()) ?? '').includes(SHARED_FILE.name));
    const tile = await textOf(cpage, '#files-tile');
    assert.ok(!tile.includes(OTHER_FILE.number) && !tile.includes(OTHER_FILE.name), 'the file not shared must not be listed');
    assert.equal(await cpage.locator('#files-tile a[href^="/files/"]').count(), 1, 'exactly one file is shared');
    await screenshot(cpage, 'portal-client-home.png');

    // The member sees the client as active.
    await open(page, contactUrl);
    assert.match(await textOf(page, '#portal-status'), /^Active \(last login .+\)$/);
    assert.equal(await textOf(page, '.head-stats .portal-state'), 'Portal: Active');

    // --- The member disables access; the client's open page is signed out ---------------------
    const disabled = await api.put(`/contacts/${contact.id}/portal`, { allow: false });
    assert.equal(disabled.status, 'disabled');
    assert.deepEqual(disabled.file_ids, [], 'file shares are dropped');

    await clickAndWait(cpage, fileLink);
    assert.equal(new URL(cpage.url()).pathname, '/', 'the client should be sent back to the sign-in page');
    await cpage.locator('#client-login').waitFor({ state: 'visible' });
    await assertHeading(cpage, `Sign in to ${FIRM.name}`);
    assert.equal(await cpage.getByText(SHARED_FILE.name).count(), 0, 'nothing of the file is shown');
    await screenshot(cpage, 'portal-client-signed-out.png');

    // The account is closed: the password no longer opens it, and the file stays out of reach.
    await cpage.fill('#email', CLIENT.loginEmail);
    await cpage.fill('#password', CLIENT.password);
    await clickAndWait(cpage, cpage.locator('#client-login button[type="submit"]'), { status: 401 });
    await cpage.locator('.notice.error').waitFor({ state: 'visible' });
    await cpage.locator('#client-login').waitFor({ state: 'visible' });
    await open(cpage, `${firmUrl}/files/${files.shared.id}`);
    assert.equal(new URL(cpage.url()).pathname, '/');

    // The member's contact page shows the Portal status.
    await open(page, contactUrl);
    assert.equal(await textOf(page, '#portal-status'), 'Disabled');
    assert.equal(await textOf(page, '#portal-shared'), 'None');
    assert.equal(await page.locator('#portal-allow').isChecked(), false);
    await page.locator('#portal').scrollIntoViewIfNeeded();
    await screenshot(page, 'portal-contact-disabled.png');

    assert.deepEqual(member.problems, [], 'member pages had browser errors');
    assert.deepEqual(client.problems, [], 'client pages had browser errors');
  } catch (err) {
    throw withServerLog(err, server);
  } finally {
    await memberContext.close().catch(() => {});
    await clientContext.close().catch(() => {});
  }
});
