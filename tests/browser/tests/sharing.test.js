// Sharing journey: a member uploads a document on a file and shows it in the
// Portal, fills in a custom field and shares it editable; the client downloads
// the document, sends one of their own, adds a note and edits the field; the
// member is told through the unread badge and the activity page, and sees the
// client's additions on the file page, attributed to the client.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { callApi, completeMemberSetup, firmApi, onboardFirm, signInMember } from '../lib/api.js';
import { fileMailbox, findLink, waitForEmail } from '../lib/mail.js';
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
import { launchChromium, startServer } from '../lib/server.js';

const FIRM = {
  slug: 'marlowe',
  name: 'Marlowe Reyes LLP',
  adminName: 'Maya Marlowe',
  adminEmail: 'maya@marlowe.example',
};
const MEMBER_PASSWORD = 'correct horse battery staple 42';
const CLIENT = {
  name: 'Priya Patel',
  email: 'priya@patel.example',
  password: 'tangerine bicycle under moonlight 7',
};
const FILE = { number: '2026-044', name: 'Patel v. Brightwater Holdings', file_type: 'Litigation' };
const FIELD = { name: 'Case reference', kind: 'text' };
const MEMBER_VALUE = 'BH-2026-0117';
const CLIENT_VALUE = 'BH-2026-0117 / claim 55-A';

/** A small valid one-page PDF showing `text`, with a correct cross-reference table. */
function tinyPdf(text) {
  const content = `BT /F1 14 Tf 24 60 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 120] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}

const MEMBER_DOC = {
  title: 'Engagement letter',
  name: 'engagement-letter.pdf',
  mimeType: 'application/pdf',
  buffer: tinyPdf('Engagement letter - Patel v. Brightwater'),
};
// A 1x1 PNG.
const CLIENT_DOC = {
  title: 'Photo of the water damage',
  name: 'water-damage.png',
  mimeType: 'image/png',
  buffer: Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
    'base64',
  ),
};
const CLIENT_NOTE = 'The insurer called me today; they want the engagement letter by Friday.';

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

/**
 * Through the JSON API: the firm, its administrator signed in, a client contact
 * who is the primary client of a file shared with them in the Portal (invited
 * and accepted), and a text custom field.
 */
async function setUp() {
  const mailbox = fileMailbox(server.mailDir);
  const firmUrl = server.baseUrl(FIRM.slug);
  await onboardFirm(server, FIRM);
  const setupEmail = await waitForEmail(mailbox, { to: FIRM.adminEmail, subject: /Set up your Portico account/ });
  await completeMemberSetup(server, FIRM.slug, findLink(setupEmail.body, /^\/firm\/setup\/[A-Za-z0-9_-]+$/), MEMBER_PASSWORD);
  const session = await signInMember(server, FIRM.slug, FIRM.adminEmail, MEMBER_PASSWORD);
  const api = firmApi(server, FIRM.slug, session.token);

  const contact = await api.post('/contacts', { name: CLIENT.name, emails: [CLIENT.email] });
  assert.equal(contact.name, CLIENT.name);
  const file = await api.post('/files', {
    ...FILE,
    status: 'open',
    responsible_lawyer_id: session.member.id,
    member_ids: [],
  });
  await api.post(`/files/${file.id}/people`, { contact_id: contact.id, role: 'client', primary: true });

  const access = await api.put(`/contacts/${contact.id}/portal`, {
    allow: true,
    login_email: CLIENT.email,
    file_ids: [file.id],
  });
  assert.deepEqual(access.file_ids, [file.id], 'the file is shared with the client');
  const invitation = await waitForEmail(mailbox, { to: CLIENT.email, subject: /invites you to its Client Portal/ });
  const token = new URL(findLink(invitation.body, /^\/invitations\/[A-Za-z0-9_-]+$/)).pathname.split('/').pop();
  await callApi(`${firmUrl}/api/v1/portal/invitations/${token}/accept`, {
    method: 'POST',
    json: { accept_terms: true, password: CLIENT.password },
  });

  const field = await api.post('/custom-fields', FIELD, 201);
  assert.equal(field.name, FIELD.name);
  return { file, field };
}

/** The row of the documents table titled `title`. */
function documentRow(page, title) {
  return page.locator('#documents-table tbody tr').filter({ has: page.locator('strong', { hasText: title }) });
}

/** Whitespace-collapsed text of a locator. */
async function squashed(locator) {
  return ((await locator.textContent({ timeout: STEP_TIMEOUT_MS })) ?? '').replace(/\s+/g, ' ').trim();
}

test('member shares a document and a custom field; the client downloads, uploads, notes and edits', { timeout: 110_000 }, async () => {
  const firmUrl = server.baseUrl(FIRM.slug);
  const memberContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const clientContext = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });

  try {
    const { file, field } = await setUp();
    const fileUrl = `${firmUrl}/firm/files/${file.id}`;

    // --- The member signs in and opens the file ------------------------------------------------
    const member = await newPage(memberContext);
    const page = member.page;
    await open(page, fileUrl);
    assert.equal(new URL(page.url()).pathname, '/firm/login', 'the file page needs a member session');
    await page.fill('#email', FIRM.adminEmail);
    await page.fill('#password', MEMBER_PASSWORD);
    await clickAndWait(page, page.locator('#member-login button[type="submit"]'));
    assert.equal(page.url(), fileUrl, 'signing in should return to the file page');
    await assertHeading(page, FILE.name);
    assert.equal(await page.locator('#unread-badge').count(), 0, 'no client activity yet');
    assert.equal(await textOf(page, '#documents .empty'), 'No documents on this file yet.');

    // --- Upload a document, then show it in the Portal -----------------------------------------
    const upload = page.locator('#upload-document');
    await upload.locator('#document-title').fill(MEMBER_DOC.title);
    await upload.locator('#document-file').setInputFiles(MEMBER_DOC);
    assert.equal(
      await upload.getByLabel('Show in Portal').isChecked(),
      false,
      'a member upload is not shared unless asked',
    );
    await clickAndWait(page, upload.getByRole('button', { name: 'Upload document' }));
    assert.equal(new URL(page.url()).pathname, `/firm/files/${file.id}`, 'the upload returns to the file page');
    const memberRow = documentRow(page, MEMBER_DOC.title);
    await memberRow.waitFor({ state: 'visible' });
    const memberDocId = await memberRow.getAttribute('data-document');
    assert.ok(memberDocId, 'the uploaded document has a row with its id');
    let rowText = await squashed(memberRow);
    assert.ok(rowText.includes(`${MEMBER_DOC.name} · ${MEMBER_DOC.buffer.length} B`), `filename and size expected, got ${JSON.stringify(rowText)}`);
    assert.ok(rowText.includes(FIRM.adminName), 'the document is attributed to the member');
    assert.ok(rowText.includes('Not shared'), 'not in the Portal before Show in Portal');

    await clickAndWait(page, memberRow.getByRole('button', { name: 'Show in Portal' }));
    rowText = await squashed(documentRow(page, MEMBER_DOC.title));
    assert.ok(rowText.includes('In Portal'), `the document should be In Portal, got ${JSON.stringify(rowText)}`);
    await documentRow(page, MEMBER_DOC.title).getByRole('button', { name: 'Remove from Portal' }).waitFor({ state: 'visible' });

    // --- Fill in the custom field and share it editable ------------------------------------------
    const fieldRow = page.locator(`#custom-fields tr.custom-field[data-field="${field.id}"]`);
    await fieldRow.waitFor({ state: 'visible' });
    assert.equal(await fieldRow.getAttribute('data-sharing'), 'hidden', 'a new field is hidden from the Portal');
    await page.locator(`#cf-value-${field.id}`).fill(MEMBER_VALUE);
    await fieldRow.getByLabel(`Portal sharing of ${FIELD.name}`).selectOption({ label: 'Share editable' });
    await clickAndWait(page, page.getByRole('button', { name: 'Save custom fields' }));
    assert.equal(new URL(page.url()).pathname, `/firm/files/${file.id}`, 'saving returns to the file page');
    await assertNotice(page, 'Changes saved.');
    assert.equal(await fieldRow.getAttribute('data-sharing'), 'editable');
    assert.equal(await page.locator(`#cf-value-${field.id}`).inputValue(), MEMBER_VALUE);
    assert.equal(await fieldRow.getByLabel(`Portal sharing of ${FIELD.name}`).inputValue(), 'editable');
    await screenshotWholePage(page, 'sharing-member-file.png');

    // --- The client signs in and opens the file ----------------------------------------------------
    const client = await newPage(clientContext);
    const cpage = client.page;
    await open(cpage, `${firmUrl}/`);
    await cpage.locator('#client-login').waitFor({ state: 'visible' });
    await cpage.fill('#email', CLIENT.email);
    await cpage.fill('#password', CLIENT.password);
    await clickAndWait(cpage, cpage.locator('#client-login button[type="submit"]'));
    await assertHeading(cpage, `Welcome, ${CLIENT.name}`);

    const clientFileUrl = `${firmUrl}/files/${file.id}`;
    await open(cpage, clientFileUrl);
    await assertHeading(cpage, FILE.name);
    assert.equal(await cpage.locator('#tab-documents').getAttribute('class'), 'active', 'Documents is the first tab');

    // Documents: download the member's document.
    const sharedRow = cpage.locator(`#documents-table tr[data-document="${memberDocId}"]`);
    await sharedRow.waitFor({ state: 'visible' });
    const sharedText = await squashed(sharedRow);
    assert.ok(sharedText.includes(MEMBER_DOC.title) && sharedText.includes(MEMBER_DOC.name), `shared document row: ${JSON.stringify(sharedText)}`);
    assert.ok(sharedText.includes(FIRM.adminName), 'the client sees who added the document');
    assert.equal(await cpage.locator('#documents-table tbody tr').count(), 1, 'only the shared document is listed');
    const [download] = await Promise.all([
      cpage.waitForEvent('download', { timeout: STEP_TIMEOUT_MS }),
      sharedRow.getByRole('link', { name: 'Download' }).click(),
    ]);
    assert.equal(await download.failure(), null, 'the download should complete');
    assert.equal(download.suggestedFilename(), MEMBER_DOC.name);
    const downloaded = await readFile(await download.path());
    assert.ok(downloaded.equals(MEMBER_DOC.buffer), `the downloaded bytes (${downloaded.length}) should equal the uploaded PDF (${MEMBER_DOC.buffer.length})`);

    // Documents: send one of their own.
    const clientUpload = cpage.locator('#upload-document');
    await clientUpload.locator('#document-title').fill(CLIENT_DOC.title);
    await clientUpload.locator('#document-file').setInputFiles(CLIENT_DOC);
    await clickAndWait(cpage, clientUpload.getByRole('button', { name: 'Upload document' }));
    assert.equal(new URL(cpage.url()).pathname, `/files/${file.id}`);
    assert.equal(new URL(cpage.url()).searchParams.get('tab'), 'documents', 'the upload returns to the Documents tab');
    await assertNotice(cpage, 'Your document was uploaded; the firm can see it now.');
    const ownRow = documentRow(cpage, CLIENT_DOC.title);
    await ownRow.waitFor({ state: 'visible' });
    const ownText = await squashed(ownRow);
    assert.ok(ownText.includes(`${CLIENT_DOC.name} · ${CLIENT_DOC.buffer.length} B`), `own document row: ${JSON.stringify(ownText)}`);
    assert.ok(ownText.includes(CLIENT.name), 'the client\'s document is attributed to the client');
    const clientDocId = await ownRow.getAttribute('data-document');
    assert.equal(await cpage.locator('#documents-table tbody tr').count(), 2);
    await screenshotWholePage(cpage, 'sharing-client-documents.png');

    // Notes: add a note.
    await clickAndWait(cpage, cpage.locator('#tab-notes'));
    assert.equal(new URL(cpage.url()).searchParams.get('tab'), 'notes');
    assert.equal(await textOf(cpage, '#panel-notes .empty'), 'No notes yet.');
    await cpage.fill('#note-body', CLIENT_NOTE);
    await clickAndWait(cpage, cpage.locator('#add-note button[type="submit"]'));
    await assertNotice(cpage, 'Your note was added; the firm can see it now.');
    const note = cpage.locator('#panel-notes article.item').filter({ hasText: CLIENT_NOTE });
    await note.waitFor({ state: 'visible' });
    assert.ok((await squashed(note.locator('.item-meta'))).startsWith(CLIENT.name), 'the note is attributed to the client');
    await screenshotWholePage(cpage, 'sharing-client-notes.png');

    // More: edit the editable custom field.
    await clickAndWait(cpage, cpage.locator('#tab-more'));
    assert.equal(new URL(cpage.url()).searchParams.get('tab'), 'more');
    const clientField = cpage.locator(`#cf-value-${field.id}`);
    await clientField.waitFor({ state: 'visible' });
    assert.equal(await squashed(cpage.locator(`label[for="cf-value-${field.id}"]`)), FIELD.name);
    assert.equal(await clientField.inputValue(), MEMBER_VALUE, 'the client sees the member\'s value');
    await clientField.fill(CLIENT_VALUE);
    await clickAndWait(cpage, cpage.locator(`#cf-form-${field.id} button[type="submit"]`));
    assert.equal(new URL(cpage.url()).pathname, `/files/${file.id}`);
    assert.equal(new URL(cpage.url()).searchParams.get('tab'), 'more', 'saving returns to the More tab');
    assert.equal(await cpage.locator('#custom-fields-error').count(), 0, 'no error after saving');
    assert.equal(await cpage.locator(`#cf-value-${field.id}`).inputValue(), CLIENT_VALUE, 'the client\'s value is saved');
    await screenshotWholePage(cpage, 'sharing-client-more.png');

    // --- The member is told: badge, then the activity page ------------------------------------------
    await open(page, `${firmUrl}/firm`);
    assert.equal(await textOf(page, '#unread-badge'), '3', 'the upload, the note and the field edit are unread');
    await clickAndWait(page, page.locator('#nav-activity'));
    assert.equal(new URL(page.url()).pathname, '/firm/activity');
    await assertHeading(page, 'Activity on your files');
    assert.equal(await textOf(page, '#new-count'), '3 new client additions');
    const clientRows = page.locator('#activity tbody tr.kind-client_activity');
    assert.equal(await clientRows.count(), 3, 'three client entries are listed');
    const clientEntries = (await clientRows.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    // Newest first: the field edit, the note, the upload.
    const expectedEntries = [
      `changed ${FIELD.name} on ${FILE.number}`,
      `added a note on ${FILE.number}: ${CLIENT_NOTE}`,
      `added the document "${CLIENT_DOC.title}" to ${FILE.number}`,
    ];
    expectedEntries.forEach((expected, i) => {
      const entry = clientEntries[i];
      assert.ok(entry.includes(expected), `activity entry ${i + 1} should be ${JSON.stringify(expected)}; client entries: ${JSON.stringify(clientEntries)}`);
      assert.ok(entry.includes(CLIENT.name) && entry.includes('client'), `the entry ${JSON.stringify(entry)} should name the client`);
    });
    await page.locator('#activity tbody tr.kind-client_login').first().waitFor({ state: 'visible' });
    for (const link of await clientRows.locator(`a[href="/firm/files/${file.id}"]`).all()) {
      assert.equal(await squashed(link), FILE.number, 'each entry links to the file');
    }
    assert.equal(await clientRows.locator(`a[href="/firm/files/${file.id}"]`).count(), 3);
    // The member's own sharing is listed too, but is not client activity.
    const mainText = await textOf(page, '#activity');
    assert.ok(mainText.includes(`shared the document "${MEMBER_DOC.title}" on ${FILE.number}`), 'the member\'s sharing is in the feed');
    assert.equal(await page.locator('#unread-badge').count(), 0, 'opening the activity page clears the badge');
    await screenshotWholePage(page, 'sharing-member-activity.png');

    // --- The client's additions on the member's file page ---------------------------------------------
    await open(page, fileUrl);
    assert.equal(await page.locator('#unread-badge').count(), 0, 'the badge stays cleared');
    const clientDocRow = page.locator(`#documents-table tr[data-document="${clientDocId}"]`);
    await clientDocRow.waitFor({ state: 'visible' });
    const clientDocText = await squashed(clientDocRow);
    assert.ok(clientDocText.includes(CLIENT_DOC.title), `client document row: ${JSON.stringify(clientDocText)}`);
    assert.ok(clientDocText.includes(`${CLIENT.name} (client)`), `the document should be attributed to the client, got ${JSON.stringify(clientDocText)}`);
    assert.ok(clientDocText.includes('In Portal'), 'a client\'s upload is shared with them');
    const memberNote = page.locator('#items article.item').filter({ hasText: CLIENT_NOTE });
    await memberNote.waitFor({ state: 'visible' });
    const noteMeta = await squashed(memberNote.locator('.item-meta'));
    assert.ok(noteMeta.startsWith(`${CLIENT.name} client`), `the note should be attributed to the client, got ${JSON.stringify(noteMeta)}`);
    await memberNote.locator('.badge.client').waitFor({ state: 'visible' });
    assert.equal(await page.locator(`#cf-value-${field.id}`).inputValue(), CLIENT_VALUE, 'the member sees the client\'s value');
    const changedBy = await squashed(page.locator(`#custom-fields tr.custom-field[data-field="${field.id}"]`));
    assert.ok(changedBy.includes(`Last changed by ${CLIENT.name} (client, in the Portal)`), `field row: ${JSON.stringify(changedBy)}`);

    // The member downloads the client's document: the same bytes.
    const [memberDownload] = await Promise.all([
      page.waitForEvent('download', { timeout: STEP_TIMEOUT_MS }),
      clientDocRow.getByRole('link', { name: 'Download' }).click(),
    ]);
    assert.equal(memberDownload.suggestedFilename(), CLIENT_DOC.name);
    assert.ok((await readFile(await memberDownload.path())).equals(CLIENT_DOC.buffer), 'the member gets the client\'s bytes');
    await screenshotWholePage(page, 'sharing-member-file-after.png');

    assert.deepEqual(member.problems, [], 'member pages had browser errors');
    assert.deepEqual(client.problems, [], 'client pages had browser errors');
  } catch (err) {
    throw withServerLog(err, server);
  } finally {
    await memberContext.close().catch(() => {});
    await clientContext.close().catch(() => {});
  }
});
