/**
 * The inbox forgives mistakes and answers back: Delete asks first (naming the message), then says
 * "Deleted '…'. Undo" and Undo brings the message back for 10 minutes; after that Undo says it is
 * too late and the sweep removes the message. Reply writes back to a member's Direct address with
 * To and "Re: …" filled in, and what was sent is on the Sent list; a message from an app offers no
 * Reply and says why. A record's Direct address exists from the moment the record does. A PDF filed
 * from a message carries its words (file name, sender, filing date) and opens from the record page.
 * All over HTTP against a real server, with the audit lines checked where each change is made.
 */
import { Browser, textOf, type PageResponse } from '../support/browser';
import { PDF, attachment, directToken, postMessage, registerClinic, signUp, type Member } from '../support/direct';
import { newPerson } from '../support/app';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';
import { createAccountThrough } from '../support/forms';

let server: TestServer;
let token: string;
let alex: Member;
let sam: Member;

beforeAll(async () => {
  server = await startTestServer();
  token = await directToken(await registerClinic(server));
  [alex, sam] = await Promise.all([signUp(server, 'Alex Morrow'), signUp(server, 'Sam Reply')]);
});

afterAll(async () => {
  await server?.stop();
});

const kindsOn = (recordId: string): Promise<string[]> => server.db.knex('audit_events').where({ record_id: recordId }).orderBy('id').pluck('kind');

/** Sends a message from `from`'s inbox page with the form as the page fills it (multipart, as a browser does). */
async function sendFrom(from: Member, page: PageResponse, fields: Record<string, string>): Promise<PageResponse> {
  const action = /action="([^"]+\/send)"/.exec(page.html)?.[1] ?? '';
  const form = new FormData();
  form.append('_csrf', /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '');
  for (const name of ['to', 'subject', 'message']) {
    const shown = new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(page.html)?.[1] ?? '';
    form.append(name, fields[name] ?? shown.replace(/&#39;/g, "'").replace(/&amp;/g, '&'));
  }
  const res = await fetch(new URL(action, server.issuer), {
    method: 'POST',
    body: form,
    redirect: 'manual',
    headers: { accept: 'text/html', cookie: from.browser.cookiesFor(action) },
  });
  expect(res.status).toBe(303);
  return from.browser.visit(res.headers.get('location') ?? '/inbox');
}

async function messageFromClinic(to: Member, subject: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await postMessage(server, token, { to: to.address, subject, text: 'See attached.', ...extra });
  expect(res.status).toBe(201);
  return res.json.id as string;
}

test('a record has its Direct address as soon as it exists, before any page shows it', async () => {
  const person = newPerson('Nia Early');
  const browser = new Browser(server.issuer);
  const page = await browser.visit('/register');
  await createAccountThrough(browser, page, person);
  const recordId = await ownRecordOf(server, person.email);
  expect(await server.db.knex('direct_addresses').where({ record_id: recordId }).first('local_part')).toEqual({ local_part: 'nia.early' });
  expect((await postMessage(server, token, { to: 'nia.early@direct.localhost', subject: 'Welcome', text: 'Hello' })).status).toBe(201);
});

test('Delete asks first, naming the message; Undo brings it back; the history says both', async () => {
  const id = await messageFromClinic(alex, 'Flu shot reminder');
  const message = await alex.browser.visit(`/inbox/${alex.recordId}/messages/${id}`);
  const ask = await alex.browser.visit(/href="([^"]+\/delete)"/.exec(message.html)?.[1] ?? '');
  expect(textOf(ask.html)).toContain("Delete this message? 'Flu shot reminder' from Riverside Clinic");
  expect(textOf(ask.html)).toContain('You can undo this for 10 minutes');
  // Nothing is deleted by asking.
  expect(textOf((await alex.browser.visit('/inbox')).html)).toContain('Flu shot reminder');

  const deleted = await alex.browser.submit(ask, {}, '/delete');
  expect(deleted.url).toBe(`${server.issuer}/inbox/${alex.recordId}?deleted=${id}`);
  const said = textOf(deleted.html);
  expect(said).toContain("Deleted 'Flu shot reminder' from Riverside Clinic. Undo");
  expect(said.replace(/Deleted 'Flu shot reminder'.*?Undo/, '')).not.toContain('Flu shot reminder'); // gone from the list
  expect((await alex.browser.visit(`/inbox/${alex.recordId}/messages/${id}`)).status).toBe(404);
  // A reload tells the same.
  expect(textOf((await alex.browser.visit(deleted.url)).html)).toContain("Deleted 'Flu shot reminder' from Riverside Clinic. Undo");

  const back = await alex.browser.submit(deleted, {}, '/restore');
  expect(back.url).toBe(`${server.issuer}/inbox/${alex.recordId}/messages/${id}?done=restored`);
  expect(textOf(back.html)).toContain('The message is back in the inbox.');
  expect(textOf(back.html)).toContain('See attached.');
  // Undo again (a second click): the message simply stays.
  expect((await alex.browser.submit(deleted, {}, '/restore')).url).toContain('done=restored');
  // The inbox no longer offers Undo for it.
  expect(textOf((await alex.browser.visit(deleted.url)).html)).not.toContain('Undo');

  const kinds = await kindsOn(alex.recordId);
  expect(kinds.slice(-2)).toEqual(['direct.deleted', 'direct.restored']);
  const history = textOf((await alex.browser.visit(`/records/${alex.recordId}/history`)).html);
  expect(history).toContain("Alex Morrow deleted the message 'Flu shot reminder' from Riverside Clinic");
  expect(history).toContain("Alex Morrow brought back the deleted message 'Flu shot reminder' from Riverside Clinic");
});

test('Undo after 10 minutes is too late, and the sweep removes the message with its attachments', async () => {
  const id = await messageFromClinic(alex, 'Old letter', { attachments: [attachment('letter.pdf', 'application/pdf', PDF)] });
  const ask = await alex.browser.visit(`/inbox/${alex.recordId}/messages/${id}/delete`);
  const deleted = await alex.browser.submit(ask, {}, '/delete');
  // Kept for 10 minutes.
  const row = await server.db.knex('direct_messages').where({ id }).first('deleted_at', 'purge_after');
  expect(row.purge_after.getTime() - row.deleted_at.getTime()).toBe(10 * 60 * 1000);
  // The sweep leaves it while Undo still works.
  await server.sweepOnce();
  expect(await server.db.knex('direct_messages').where({ id }).first('id')).toEqual({ id });

  await server.db
    .knex('direct_messages')
    .where({ id })
    .update({ purge_after: new Date(Date.now() - 1000) });
  const late = await alex.browser.submit(deleted, {}, '/restore');
  expect(late.url).toContain(`deleted=${id}&late=1`);
  expect(textOf(late.html)).toContain("It is too late to undo: 'Old letter' was deleted for good 10 minutes after you deleted it.");
  expect(textOf(late.html)).not.toContain('Undo (until');
  expect((await kindsOn(alex.recordId)).at(-1)).toBe('direct.deleted');

  const swept = await server.sweepOnce();
  expect(swept.directDeleted).toBeGreaterThanOrEqual(1);
  expect(await server.db.knex('direct_messages').where({ id }).first()).toBeUndefined();
  expect(await server.db.knex('direct_attachments').where({ message_id: id }).first()).toBeUndefined();
  // Undo now: still too late, in words.
  expect(textOf((await alex.browser.submit(deleted, {}, '/restore')).html)).toContain('It is too late to undo: the message was deleted for good');
});

test('Reply fills in To and "Re: …" for a member; the message arrives and Sent lists it; apps get no Reply, and the page says why', async () => {
  // Sam writes to Alex.
  const samInbox = await sam.browser.visit('/inbox');
  expect(textOf(samInbox.html)).toContain('To a carevault Direct address (ending in @direct.localhost)');
  await sendFrom(sam, samInbox, { to: alex.address, subject: 'Dinner Friday?', message: 'Are you free?' });

  // Alex opens it and replies.
  const inbox = await alex.browser.visit('/inbox');
  const messageHref = /href="(\/inbox\/[^"]+\/messages\/[^"]+)">Dinner Friday\?/.exec(inbox.html)?.[1] ?? '';
  const message = await alex.browser.visit(messageHref);
  const replyHref = /href="([^"]+\?reply=[^"]+)">Reply</.exec(message.html)?.[1]?.replace(/&amp;/g, '&') ?? '';
  expect(replyHref).not.toBe('');
  const reply = await alex.browser.visit(replyHref);
  expect(reply.html).toMatch(new RegExp(`name="to"[^>]*value="${sam.address.replace(/\./g, '\\.')}"`));
  expect(reply.html).toMatch(/name="subject"[^>]*value="Re: Dinner Friday\?"/);
  expect(textOf(reply.html)).toContain('Reply');
  const sent = await sendFrom(alex, reply, { message: 'Yes, 7pm.' });
  expect(textOf(sent.html)).toContain('Your message was sent.');

  // Sam has the reply; "Re:" is not doubled when Sam replies to it.
  const samAgain = await sam.browser.visit('/inbox');
  expect(textOf(samAgain.html)).toContain('Re: Dinner Friday?');
  const replyMessage = await sam.browser.visit(/href="(\/inbox\/[^"]+\/messages\/[^"]+)">Re: Dinner Friday\?/.exec(samAgain.html)?.[1] ?? '');
  const rereply = await sam.browser.visit(/href="([^"]+\?reply=[^"]+)">Reply</.exec(replyMessage.html)?.[1]?.replace(/&amp;/g, '&') ?? '');
  expect(rereply.html).toMatch(/name="subject"[^>]*value="Re: Dinner Friday\?"/);

  // Alex's Sent list: to, subject, when.
  const sentList = textOf((await alex.browser.visit(`/inbox/${alex.recordId}/sent`)).html);
  expect(sentList).toMatch(new RegExp(`${sam.address.replace(/\./g, '\\.')} Re: Dinner Friday\\? \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} UTC 0`));
  // It stays there when Sam deletes the copy Sam received.
  const samCopy = await sam.browser.visit(`${/href="(\/inbox\/[^"]+\/messages\/[^"]+)">Re: Dinner Friday\?/.exec(samAgain.html)?.[1] ?? ''}/delete`);
  await sam.browser.submit(samCopy, {}, '/delete');
  await server.db
    .knex('direct_messages')
    .whereNotNull('deleted_at')
    .update({ purge_after: new Date(Date.now() - 1000) });
  await server.sweepOnce();
  expect(textOf((await alex.browser.visit(`/inbox/${alex.recordId}/sent`)).html)).toContain('Re: Dinner Friday?');
  // Sam's Sent list is Sam's own; another person cannot see Alex's.
  expect(textOf((await sam.browser.visit(`/inbox/${sam.recordId}/sent`)).html)).toContain('Dinner Friday?');
  expect((await sam.browser.visit(`/inbox/${alex.recordId}/sent`)).status).toBe(404);

  // A message from an app: no Reply, and why.
  const fromApp = await messageFromClinic(alex, 'Appointment moved');
  const appMessage = await alex.browser.visit(`/inbox/${alex.recordId}/messages/${fromApp}`);
  expect(appMessage.html).not.toContain('?reply=');
  expect(textOf(appMessage.html)).toContain(
    'Riverside Clinic is a registered app: apps send to carevault but have no Direct inbox here, so a reply cannot be delivered.',
  );
  // Asking for a reply to it anyway fills in nothing.
  const forced = await alex.browser.visit(`/inbox/${alex.recordId}?reply=${fromApp}`);
  expect(forced.html).toMatch(/name="to"[^>]*value=""/);
});

test('a PDF filed from a message carries its name, its sender and when it was filed, and opens from the record page', async () => {
  const id = await messageFromClinic(alex, 'Discharge summary', { attachments: [attachment('Discharge summary.pdf', 'application/pdf', PDF)] });
  const message = await alex.browser.visit(`/inbox/${alex.recordId}/messages/${id}`);
  await alex.browser.submit(message, {}, '/file');
  const [filed] = await server.db.knex('resources').where({ record_id: alex.recordId, type: 'DocumentReference' }).select('id', 'content');
  expect(filed.content).toMatchObject({
    description: 'Discharge summary.pdf · from Riverside Clinic',
    author: [{ display: 'Riverside Clinic' }],
    content: [{ attachment: { title: 'Discharge summary.pdf', contentType: 'application/pdf' } }],
  });

  // The record lists it as an item; the item's page opens the document itself.
  const record = await alex.browser.visit(`/records/${alex.recordId}`);
  const item = new RegExp(`<a href="(/records/${alex.recordId}/items/DocumentReference/${filed.id})">Discharge summary\\.pdf · from Riverside Clinic</a>`).exec(
    record.html,
  );
  expect(item).not.toBeNull();
  const itemPage = await alex.browser.visit(item?.[1] ?? '');
  const link = new RegExp(`<a href="(/records/${alex.recordId}/documents/${filed.id})">Discharge summary\\.pdf</a>`).exec(itemPage.html);
  expect(link).not.toBeNull();
  const page = await alex.browser.visit(link?.[1] ?? '');
  const words = textOf(page.html);
  expect(words).toContain('Discharge summary.pdf');
  expect(words).toContain('From Riverside Clinic');
  expect(words).toContain(`Filed ${new Date().toISOString().slice(0, 10)}`);
  expect(words).toContain('Kind PDF');

  const download = /href="([^"]+\/file)" download/.exec(page.html)?.[1] ?? '';
  const res = await fetch(new URL(download, server.issuer), { headers: { cookie: alex.browser.cookiesFor(download) } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/pdf');
  expect(res.headers.get('content-disposition')).toContain('attachment');
  expect(Buffer.from(await res.arrayBuffer()).equals(PDF)).toBe(true);

  // Nobody else opens it, and nothing that is not a document of this record opens.
  expect((await sam.browser.visit(link?.[1] ?? '')).status).toBe(404);
  expect((await sam.browser.request(download)).status).toBe(404);
  expect((await alex.browser.visit(`/records/${alex.recordId}/documents/not-there`)).status).toBe(404);

  // A leap second is a valid FHIR instant that JavaScript cannot read: the page says the day as written.
  await server.db
    .knex('resources')
    .where({ record_id: alex.recordId, type: 'DocumentReference', id: filed.id })
    .update({ content: { ...filed.content, date: '2016-12-31T23:59:60Z' } });
  const leap = await alex.browser.visit(link?.[1] ?? '');
  expect(leap.status).toBe(200);
  expect(textOf(leap.html)).toContain('Filed 2016-12-31');
  expect((await new Browser(server.issuer).request(link?.[1] ?? '')).status).toBe(303);
});
