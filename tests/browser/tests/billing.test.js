// Billing journey, with every email delivered through a real SMTP server: a member drafts an
// invoice on a file (a typo in an amount is refused, a draft cannot be shown in the Portal),
// finalizes and shares it; the client sees it in Outstanding with the balance owing, adds the
// 4242 test card (its number goes only to the test provider), pays part of the invoice — the
// first answer is lost on the way back and the retry, with the same Idempotency-Key, is not
// charged twice — is refused an overpayment, pays the rest, sees the Paid stamp and gets the
// receipts. With a second invoice the client adds the declined test card in the Pay Now
// dialog, sees the failure with its transaction id, and the responsible lawyer is emailed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { acceptInvitation, firmWithAdmin, request } from '../lib/api.js';
import { emailsTo, findLink, waitForEmail } from '../lib/mail.js';
import {
  STEP_TIMEOUT_MS,
  assertHeading,
  assertNotice,
  clickAndWait,
  newPage,
  open,
  screenshotWholePage,
  textOf,
  withServerLog,
} from '../lib/pages.js';
import { launchChromium, screenshot, startServer } from '../lib/server.js';
import { startSmtpServer } from '../lib/smtp.js';

const FIRM = {
  slug: 'okafor',
  name: 'Okafor & Lindgren',
  adminName: 'Ada Okafor',
  adminEmail: 'ada@okafor.example',
};
const MEMBER_PASSWORD = 'correct horse battery staple 42';
const CLIENT = {
  name: 'Tomasz Nowak',
  email: 'tomasz@nowak.example',
  password: 'tangerine bicycle under moonlight 7',
};
const FILE = { number: '2026-210', name: 'Nowak v. Harbourline Shipping', file_type: 'Litigation' };
const GOOD_CARD = '4242424242424242';
const DECLINED_CARD = '4000000000000002';
const EXP_YEAR = String(new Date().getFullYear() + 3);

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

/**
 * Through the JSON API: the firm, its administrator (the file's responsible lawyer), and a
 * client who is the primary client of a file shared with them (invited and accepted).
 */
async function setUp() {
  const { session, api } = await firmWithAdmin(server, smtp.mailbox, FIRM, MEMBER_PASSWORD);

  const contact = await api.post('/contacts', { name: CLIENT.name, emails: [CLIENT.email] });
  const file = await api.post('/files', {
    ...FILE,
    status: 'open',
    responsible_lawyer_id: session.member.id,
    member_ids: [],
  });
  await api.post(`/files/${file.id}/people`, { contact_id: contact.id, role: 'client', primary: true });
  await api.put(`/contacts/${contact.id}/portal`, { allow: true, login_email: CLIENT.email, file_ids: [file.id] });
  const invitation = await waitForEmail(smtp.mailbox, { to: CLIENT.email, subject: /invites you to its Client Portal/ });
  await acceptInvitation(server, FIRM.slug, findLink(invitation.body, /^\/invitations\/[A-Za-z0-9_-]+$/), CLIENT.password);
  return { api, file };
}

/** Whitespace-collapsed text of a locator. */
async function squashed(locator) {
  return ((await locator.textContent({ timeout: STEP_TIMEOUT_MS })) ?? '').replace(/\s+/g, ' ').trim();
}

/** The firm's invoice row numbered `number` on the file page. */
const invoiceRow = (page, number) => page.locator(`#invoices-table tr[data-number="${number}"]`);

/** Fills the draft invoice form's lines (adding rows with "Add a line" when needed). */
async function fillLines(page, lines) {
  const form = page.locator('#new-invoice');
  while ((await form.locator('.invoice-line').count()) < lines.length) {
    await form.getByRole('button', { name: 'Add a line' }).click();
  }
  for (const [i, [description, amount]] of lines.entries()) {
    await form.getByLabel(`Line ${i + 1} description`).fill(description);
    await form.getByLabel(`Line ${i + 1} amount`).fill(amount);
  }
}

/** Adds a card with the add-method form inside `scope` (the page or the Pay Now dialog). */
async function addCard(scope, number) {
  const form = scope.locator('#add-method-form');
  await form.locator('#am-number').fill(number);
  await form.locator('#am-exp-month').fill('12');
  await form.locator('#am-exp-year').fill(EXP_YEAR);
  await form.locator('#am-cvc').fill('123');
  await form.getByRole('button', { name: 'Save payment method' }).click();
}

test('member bills a client; the client pays in parts, then a declined card fails', { timeout: 180_000 }, async () => {
  const firmUrl = server.baseUrl(FIRM.slug);
  const memberContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const clientContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });

  try {
    const { file } = await setUp();
    const fileUrl = `${firmUrl}/firm/files/${file.id}`;

    // --- The member signs in and opens the file's Billing section -----------------------------
    const member = await newPage(memberContext);
    const page = member.page;
    await open(page, fileUrl);
    await page.fill('#email', FIRM.adminEmail);
    await page.fill('#password', MEMBER_PASSWORD);
    await clickAndWait(page, page.locator('#member-login button[type="submit"]'));
    assert.equal(page.url(), fileUrl);
    await page.locator('#billing').waitFor({ state: 'visible' });
    assert.ok((await textOf(page, '#billing')).includes('No invoices on this file.'));

    // Options > Billing: the test provider in USD; Stripe needs the firm's connected account.
    await open(page, `${firmUrl}/firm/options/client-portal`);
    await clickAndWait(page, page.locator('#options-billing-link'));
    await assertHeading(page, 'Billing');
    assert.match(await textOf(page, '#stripe-status'), /no Stripe credentials/);
    assert.equal(await page.locator('input[name="provider"][value="mock"]').isChecked(), true);
    assert.equal(await page.locator('#billing-currency').inputValue(), 'USD');
    await page.locator('input[name="provider"][value="stripe"]').check();
    await clickAndWait(page, page.getByRole('button', { name: 'Save billing options' }), { status: 422 });
    assert.match(await textOf(page, '#billing-options-error'), /stripe_account_id is required/);
    await page.locator('input[name="provider"][value="mock"]').check();
    await clickAndWait(page, page.getByRole('button', { name: 'Save billing options' }));
    await assertNotice(page, 'Billing options saved.');
    await open(page, fileUrl);

    // A typo in an amount is refused with the reason, and what was typed is kept.
    await fillLines(page, [['Initial consultation', '1,250.005']]);
    await clickAndWait(page, page.getByRole('button', { name: 'Create draft invoice' }), { status: 422 });
    assert.equal(await textOf(page, '#billing-error'), 'Line 1: at most two decimals (cents).');
    assert.equal(await page.locator('#new-invoice').getByLabel('Line 1 description').inputValue(), 'Initial consultation');

    // --- A draft invoice with a discount line ----------------------------------------------
    await fillLines(page, [
      ['Initial consultation', '1,250.00'],
      ['Court filing fee', '350'],
      ['Courtesy discount', '-100.00'],
      ['Copies and courier', '0.5'],
    ]);
    await clickAndWait(page, page.getByRole('button', { name: 'Create draft invoice' }));
    assert.match(page.url(), /done=invoice-created/);
    await assertNotice(page, 'Draft invoice created.');
    const first = invoiceRow(page, 'INV-00001');
    assert.equal(await first.getAttribute('data-status'), 'draft');
    let rowText = await squashed(first);
    assert.ok(rowText.includes('$1,500.50') && rowText.includes('Not shared'), `draft row: ${rowText}`);

    // A draft can never be shown in the Portal: the multi-select says why.
    await first.locator('input[name="invoice"]').check();
    await clickAndWait(page, page.getByRole('button', { name: 'Show selected in Portal' }), { status: 409 });
    assert.match(await textOf(page, '#billing-error'), /draft invoices cannot be shown in the Portal; finalize them first: INV-00001/);

    // Finalize, then Show in Portal.
    await clickAndWait(page, invoiceRow(page, 'INV-00001').getByRole('button', { name: 'Finalize' }));
    await assertNotice(page, 'Invoice finalized.');
    assert.equal(await invoiceRow(page, 'INV-00001').getAttribute('data-status'), 'finalized');
    await clickAndWait(page, invoiceRow(page, 'INV-00001').getByRole('button', { name: 'Show in Portal' }));
    await assertNotice(page, 'Shown in the Portal.');
    rowText = await squashed(invoiceRow(page, 'INV-00001'));
    assert.ok(rowText.includes('In Portal'), `shared row: ${rowText}`);

    // A second invoice, finalized and shown with the multi-select.
    await fillLines(page, [['Expert witness deposit', '800']]);
    await clickAndWait(page, page.getByRole('button', { name: 'Create draft invoice' }));
    await clickAndWait(page, invoiceRow(page, 'INV-00002').getByRole('button', { name: 'Finalize' }));
    await invoiceRow(page, 'INV-00002').locator('input[name="invoice"]').check();
    await clickAndWait(page, page.getByRole('button', { name: 'Show selected in Portal' }));
    await assertNotice(page, 'Shown in the Portal.');
    assert.ok((await squashed(invoiceRow(page, 'INV-00002'))).includes('In Portal'));
    await screenshotWholePage(page, 'billing-member-file.png');

    // --- The client signs in: the Billing tile opens Outstanding --------------------------------
    const client = await newPage(clientContext);
    const cpage = client.page;
    // Card numbers may go to the test provider only, never to the Portal's own API.
    const cardLeaks = [];
    cpage.on('request', (req) => {
      const body = req.postData() ?? '';
      if (/\d{16}/.test(body.replace(/\s/g, '')) && new URL(req.url()).pathname !== '/mock-psp/tokens') {
        cardLeaks.push(req.url());
      }
    });
    await open(cpage, `${firmUrl}/`);
    await cpage.fill('#email', CLIENT.email);
    await cpage.fill('#password', CLIENT.password);
    await clickAndWait(cpage, cpage.locator('#client-login button[type="submit"]'));
    await assertHeading(cpage, `Welcome, ${CLIENT.name}`);
    assert.equal(await textOf(cpage, '#home-balance'), '$2,300.50');
    await clickAndWait(cpage, cpage.locator('#billing-tile'));
    assert.equal(new URL(cpage.url()).searchParams.get('view'), 'outstanding', 'something is due: the tile opens Outstanding');
    assert.equal(await cpage.locator('#view-outstanding').getAttribute('aria-current'), 'page');
    assert.equal(await textOf(cpage, '#outstanding-total'), '$2,300.50');
    const outstanding = cpage.locator('#billing-table tbody tr');
    assert.equal(await outstanding.count(), 2);
    const dueText = await squashed(cpage.locator('#billing-table tr[data-number="INV-00001"]'));
    assert.ok(dueText.includes('$1,500.50'), `INV-00001 due: ${dueText}`);
    await screenshot(cpage, 'billing-client-outstanding.png');

    // Since Last Login on the first visit: everything shared so far.
    await open(cpage, `${firmUrl}/billing?view=since_last_login`);
    assert.equal(await cpage.locator('#billing-table tr.invoice-row').count(), 2);

    // --- Add the 4242 card on the payment methods page ---------------------------------------
    await open(cpage, `${firmUrl}/payment-methods`);
    await cpage.locator('#no-methods').waitFor({ state: 'visible' });
    await Promise.all([cpage.waitForURL(/done=added/), addCard(cpage, GOOD_CARD)]);
    await assertNotice(cpage, 'Payment method added.');
    const saved = cpage.locator('.method-card');
    assert.equal(await saved.count(), 1);
    const savedText = await squashed(saved);
    assert.ok(savedText.includes('Visa ending in 4242') && savedText.includes('Default'), `saved method: ${savedText}`);
    assert.ok(savedText.includes(`12/${EXP_YEAR}`) && savedText.includes(CLIENT.name), `saved method details: ${savedText}`);

    // --- Pay part of INV-00001; the first answer is lost, the retry charges once ----------------
    await open(cpage, `${firmUrl}/billing?view=outstanding`);
    await clickAndWait(cpage, cpage.locator('#billing-table tr[data-number="INV-00001"] a', { hasText: 'Invoice INV-00001' }));
    await assertHeading(cpage, 'Invoice INV-00001');
    assert.equal(await textOf(cpage, '#invoice-due'), '$1,500.50');
    await cpage.getByRole('button', { name: 'Pay Now' }).click();
    const dialog = cpage.locator('#pay-dialog');
    await dialog.waitFor({ state: 'visible' });
    assert.equal(await dialog.locator('#pay-amount').inputValue(), '1500.50', 'the amount defaults to the balance');
    assert.ok((await squashed(dialog.locator('#pay-method'))).includes('Visa ending in 4242'));
    assert.ok((await textOf(cpage, '#payer')).includes(CLIENT.name), 'the dialog is prefilled from the client');

    const keys = [];
    let lostOnce = false;
    await cpage.route('**/api/v1/portal/invoices/*/payments', async (route) => {
      keys.push(route.request().headers()['idempotency-key']);
      if (!lostOnce) {
        // The server charges, but its answer never reaches the browser.
        lostOnce = true;
        const req = route.request();
        const { 'content-length': _, ...headers } = req.headers();
        const answer = await request(req.url(), { method: 'POST', headers, json: req.postDataJSON() });
        assert.equal(answer.status, 200, `the charge itself went through: ${answer.text}`);
        await route.abort('connectionreset');
        return;
      }
      await route.continue();
    });
    await dialog.locator('#pay-amount').fill('500');
    await dialog.getByRole('button', { name: 'Pay', exact: true }).click();
    await dialog.locator('#pay-result', { hasText: 'could not be sent' }).waitFor({ state: 'visible' });
    await dialog.getByRole('button', { name: 'Pay', exact: true }).click();
    const confirmation = await textOf(cpage, '#pay-confirmation');
    assert.ok(confirmation.length >= 6, `a confirmation number is shown, got ${JSON.stringify(confirmation)}`);
    assert.equal(keys.length, 2);
    assert.ok(keys[0] && keys[0] === keys[1], `the retry reuses the Idempotency-Key (${keys.join(' / ')})`);
    await cpage.unroute('**/api/v1/portal/invoices/*/payments');
    await screenshot(cpage, 'billing-pay-confirmation.png');
    await Promise.all([cpage.waitForNavigation(), dialog.locator('#pay-cancel').click()]);
    assert.equal(await textOf(cpage, '#invoice-due'), '$1,000.50', 'charged once, not twice');
    assert.equal(await cpage.locator('#invoice-payments-table tbody tr').count(), 1);

    // Overpaying is refused with the reason.
    await cpage.getByRole('button', { name: 'Pay Now' }).click();
    assert.equal(await dialog.locator('#pay-amount').inputValue(), '1000.50');
    await dialog.locator('#pay-amount').fill('5,000.00');
    await dialog.getByRole('button', { name: 'Pay', exact: true }).click();
    await dialog.locator('#pay-result', { hasText: 'overpayment is not accepted' }).waitFor({ state: 'visible' });

    // The rest: Paid.
    await dialog.locator('#pay-amount').fill('1,000.50');
    await dialog.getByRole('button', { name: 'Pay', exact: true }).click();
    const finalConfirmation = await textOf(cpage, '#pay-confirmation');
    assert.notEqual(finalConfirmation, confirmation);
    await Promise.all([cpage.waitForNavigation(), dialog.locator('#pay-cancel').click()]);
    assert.equal(await textOf(cpage, '#paid-stamp'), 'Paid');
    assert.equal(await textOf(cpage, '#invoice-due'), '$0.00');
    assert.equal(await cpage.getByRole('button', { name: 'Pay Now' }).count(), 0, 'nothing left to pay');
    await screenshot(cpage, 'billing-invoice-paid.png');

    // One receipt per payment: the retried one was charged, and emailed, once.
    const receiptFilter = { to: CLIENT.email, subject: `Payment receipt — invoice INV-00001 — ${FIRM.name}` };
    const receipt = await waitForEmail(smtp.mailbox, receiptFilter);
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (emailsTo(smtp.mailbox, receiptFilter).length < 2 && Date.now() < deadline) await sleep(100);
    const receipts = emailsTo(smtp.mailbox, receiptFilter);
    assert.equal(receipts.length, 2, 'two payments, two receipts');
    for (const number of [confirmation, finalConfirmation]) {
      assert.ok(receipts.some((m) => m.body.includes(`Confirmation number: ${number}`)), `a receipt gives ${number}`);
    }

    // All Transactions: the Paid stamp; the balance owing is the second invoice.
    await open(cpage, `${firmUrl}/billing?view=all`);
    const paidRow = await squashed(cpage.locator('#billing-table tr[data-number="INV-00001"].invoice-row'));
    assert.ok(paidRow.includes('Paid'), `INV-00001 in All Transactions: ${paidRow}`);
    assert.equal(await cpage.locator('#billing-table tr.payment-row').count(), 2, 'both Portal payments are listed');
    assert.equal(await textOf(cpage, '#balance-owing strong'), '$800.00');
    // The file's Billing tab lists the same bills.
    await open(cpage, `${firmUrl}/files/${file.id}?tab=billing`);
    assert.equal(await cpage.locator('#file-billing-table tr.invoice-row').count(), 2);

    // --- INV-00002 with the declined card, added in the Pay Now dialog --------------------------
    await open(cpage, `${firmUrl}/billing?view=outstanding`);
    assert.equal(await cpage.locator('#billing-table tbody tr').count(), 1);
    await clickAndWait(cpage, cpage.locator('#billing-table tr[data-number="INV-00002"] a', { hasText: 'Pay Now' }));
    await cpage.getByRole('button', { name: 'Pay Now' }).click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('#pay-add summary').click();
    await addCard(dialog, DECLINED_CARD);
    // The new card becomes the chosen method.
    await cpage.waitForFunction(() => document.querySelector('#pay-method').selectedOptions[0]?.textContent.includes('ending in 0002'));
    await dialog.getByRole('button', { name: 'Pay', exact: true }).click();
    const failure = dialog.locator('#pay-result.error');
    await failure.waitFor({ state: 'visible' });
    assert.match(await squashed(failure), /^The payment failed: .+/);
    const transaction = await textOf(cpage, '#pay-transaction');
    assert.ok(transaction.length > 4, `a transaction id is shown, got ${JSON.stringify(transaction)}`);
    await screenshot(cpage, 'billing-pay-declined.png');

    const failed = await waitForEmail(smtp.mailbox, {
      to: FIRM.adminEmail,
      subject: 'Client Portal payment failed — invoice INV-00002',
    });
    assert.ok(failed.body.includes(transaction), 'the lawyer is given the transaction id');
    assert.ok(failed.body.includes(CLIENT.name));
    assert.ok(!failed.raw.includes(DECLINED_CARD) && !receipt.raw.includes(GOOD_CARD), 'no card number in any email');

    // The member sees the Portal payments on the file.
    await open(page, fileUrl);
    assert.equal(await invoiceRow(page, 'INV-00001').getAttribute('data-status'), 'paid');
    assert.equal(await page.locator('#payments-table tbody tr').count(), 2);
    assert.ok((await squashed(page.locator('#payments-table'))).includes(finalConfirmation));

    assert.deepEqual(cardLeaks, [], 'card numbers went only to the test provider');
    assert.deepEqual(member.problems, [], 'member pages had browser errors');
    // Expected: the answer dropped on purpose and the refused overpayment.
    const unexpected = client.problems.filter(
      (p) =>
        !/\/payments net::ERR_CONNECTION_RESET$/.test(p) &&
        !/^console error: Failed to load resource: net::ERR_CONNECTION_RESET$/.test(p) &&
        !/^HTTP 422 for .*\/payments$/.test(p),
    );
    assert.deepEqual(unexpected, [], 'client pages had browser errors');
  } catch (err) {
    throw withServerLog(err, server);
  } finally {
    await memberContext.close().catch(() => {});
    await clientContext.close().catch(() => {});
  }
});
