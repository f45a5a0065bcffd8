/**
 * Direct messaging on a real server: apps send through `POST /api/direct/messages`
 * (openid-client's client-credentials token) and over SMTP (nodemailer signed in with the app's
 * client id and secret); every refusal comes with its status or SMTP reply and leaves nothing
 * stored; a message lands whole or not at all; racing requests converge.
 */
import http from 'node:http';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { Browser, textOf } from '../support/browser';
import {
  CCDA,
  GIF,
  PDF,
  PNG,
  addressOnInbox,
  attachment,
  directToken,
  postMessage,
  registerClinic,
  signUp,
  smtpDialog,
  authPlain,
  smtpRefusal,
  smtpTransport,
  storedCounts,
  type Member,
} from '../support/direct';
import { MAX_SMTP_BYTES } from '../../src/direct/limits';
import { freePort } from '../support/scratch';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';
import { CALLBACK, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { createAccountThrough } from '../support/forms';

const MB = 1024 * 1024;

let server: TestServer;
let smtpPort: number;
let clinic: TestApp;
let token: string;
let alex: Member;

beforeAll(async () => {
  smtpPort = await freePort();
  server = await startTestServer({ DIRECT_SMTP_PORT: String(smtpPort), DIRECT_DOMAIN: 'direct.carevault.test' });
  clinic = await registerClinic(server);
  token = await directToken(clinic);
  alex = await signUp(server, 'Alex Morgan');
});

afterAll(async () => {
  await server?.stop();
});

/** The inbox page of `member`, as text. */
async function inboxText(member: Member): Promise<string> {
  return textOf((await member.browser.visit('/inbox')).html);
}

describe('sending through the API', () => {
  test('a message with a PDF and a C-CDA reaches the inbox and the record history', async () => {
    expect(alex.address).toBe('alex.morgan@direct.carevault.test');
    const sent = await postMessage(server, token, {
      to: alex.address,
      subject: 'Lab results',
      text: 'Your results from March are attached.\nCall us with questions.',
      attachments: [attachment('results.pdf', 'application/pdf', PDF), attachment('ccda.xml', 'application/xml', CCDA)],
    });
    expect(sent.status).toBe(201);
    expect(sent.json.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.headers.get('cache-control')).toBe('no-store');

    const inbox = await inboxText(alex);
    expect(inbox).toContain('Riverside Clinic');
    expect(inbox).toContain('Lab results');
    expect(inbox).toContain('Unread');

    const history = textOf((await alex.browser.visit(`/records/${alex.recordId}/history`)).html);
    expect(history).toContain("Riverside Clinic sent you 'Lab results' with 2 attachments");

    // The attachment downloads as it was sent, as a download of its stored type.
    const message = await alex.browser.visit(`/inbox/${alex.recordId}/messages/${String(sent.json.id)}`);
    expect(message.headers.get('cache-control')).toBe('no-store');
    expect(textOf(message.html)).toContain('Your results from March are attached. Call us with questions.');
    const [pdfLink] = [...message.html.matchAll(/href="([^"]+\/attachments\/[^"]+)"/g)].map((match) => match[1] as string);
    const download = await fetch(new URL(pdfLink ?? '', server.issuer), { headers: { cookie: alex.browser.cookiesFor(pdfLink ?? '') } });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    expect(download.headers.get('content-disposition')).toBe('attachment; filename=results.pdf');
    expect(download.headers.get('x-content-type-options')).toBe('nosniff');
    expect(download.headers.get('cache-control')).toBe('no-store');
    expect(Buffer.from(await download.arrayBuffer()).equals(PDF)).toBe(true);
  });

  test('refusals: each with its status and a sentence, and nothing stored', async () => {
    const before = await storedCounts(server);
    const dropper = await registerClinic(server, 'Drop Off Only', ['dopu']);
    const dopuToken = await directToken(dropper, 'dopu');
    const valid = { to: alex.address, subject: 'Hello', text: 'Hi', attachments: [] };
    const cases: { name: string; status: number; description: RegExp; send: () => ReturnType<typeof postMessage> }[] = [
      {
        name: 'unknown address',
        status: 404,
        description: /There is no Direct address nobody\.here@direct\.carevault\.test at carevault/,
        send: () => postMessage(server, token, { ...valid, to: 'nobody.here@direct.carevault.test' }),
      },
      {
        name: 'another domain',
        status: 404,
        description: /There is no Direct address alex\.morgan@elsewhere\.example/,
        send: () => postMessage(server, token, { ...valid, to: 'alex.morgan@elsewhere.example' }),
      },
      {
        name: 'a GIF',
        status: 400,
        description: /"pic\.gif" is of type image\/gif, which carevault does not accept: attach PDF, PNG, JPEG/,
        send: () => postMessage(server, token, { ...valid, attachments: [attachment('pic.gif', 'image/gif', GIF)] }),
      },
      {
        name: 'text posing as a PDF',
        status: 400,
        description: /"fake\.pdf" is not a PDF, though its type says so/,
        send: () => postMessage(server, token, { ...valid, attachments: [attachment('fake.pdf', 'application/pdf', Buffer.from('hello'))] }),
      },
      {
        name: 'XML that is not a CDA',
        status: 400,
        description: /"note\.xml" is not a CDA document/,
        send: () => postMessage(server, token, { ...valid, attachments: [attachment('note.xml', 'text/xml', Buffer.from('<note><to>x</to></note>'))] }),
      },
      {
        name: 'a PDF among the accepted, then an executable',
        status: 400,
        description: /"setup\.exe" is of type application\/x-msdownload/,
        send: () =>
          postMessage(server, token, {
            ...valid,
            attachments: [attachment('a.pdf', 'application/pdf', PDF), attachment('setup.exe', 'application/x-msdownload', Buffer.from('MZ'))],
          }),
      },
      {
        name: '21 attachments',
        status: 400,
        description: /at most 20 attachments/,
        send: () => postMessage(server, token, { ...valid, attachments: Array.from({ length: 21 }, (_, i) => attachment(`p${i}.png`, 'image/png', PNG)) }),
      },
      {
        name: 'data that is not base64',
        status: 400,
        description: /^attachments\[0\]\.data: must be base64/,
        send: () => postMessage(server, token, { ...valid, attachments: [{ filename: 'a.pdf', content_type: 'application/pdf', data: '%%%' }] }),
      },
      { name: 'no to', status: 400, description: /^to: must be the Direct address to send to$/, send: () => postMessage(server, token, { subject: 'x' }) },
      {
        name: 'a control character in the subject',
        status: 400,
        description: /^subject: must be plain text, without control characters$/,
        send: () => postMessage(server, token, { ...valid, subject: 'bell\u0007' }),
      },
      { name: 'malformed JSON', status: 400, description: /well-formed JSON/, send: () => postMessage(server, token, '{"to": ') },
      {
        name: 'not JSON',
        status: 415,
        description: /Send the message as JSON/,
        send: () => postMessage(server, token, 'to=alex', 'application/x-www-form-urlencoded'),
      },
      { name: 'no token', status: 401, description: /access token is required/, send: () => postMessage(server, undefined, valid) },
      { name: 'an app without the direct capability', status: 403, description: /scope direct/, send: () => postMessage(server, dopuToken, valid) },
    ];
    const results = [];
    for (const item of cases) {
      const res = await item.send();
      results.push({ name: item.name, status: res.status, description: String(res.json.error_description ?? '') });
      expect({ name: item.name, status: res.status }).toEqual({ name: item.name, status: item.status });
      expect(String(res.json.error_description ?? '')).toMatch(item.description);
    }
    expect(await storedCounts(server)).toEqual(before);
    const fivexx = results.filter((result) => result.status >= 500).length;
    console.log(`API refusals: ${cases.length} requests, ${results.length - fivexx} refused with the expected status, 0 stored, ${fivexx} 5xx`);
  });

  test('25 MB is the limit: exactly 25 MB is accepted, one byte more is refused with 413', async () => {
    const text = 'Scans attached.';
    const room = 25 * MB - Buffer.byteLength(text);
    const full = Buffer.alloc(room, 0x20);
    full.write('%PDF-1.7\n');
    const started = Date.now();
    const accepted = await postMessage(server, token, {
      to: alex.address,
      subject: 'Full',
      text,
      attachments: [attachment('scan.pdf', 'application/pdf', full)],
    });
    expect(accepted.status).toBe(201);
    const acceptedMs = Date.now() - started;
    const before = await storedCounts(server);
    const over = Buffer.concat([full, Buffer.from(' ')]);
    const refused = await postMessage(server, token, {
      to: alex.address,
      subject: 'Over',
      text,
      attachments: [attachment('scan.pdf', 'application/pdf', over)],
    });
    expect(refused.status).toBe(413);
    expect(refused.json).toMatchObject({ error: 'message_too_large' });
    expect(String(refused.json.error_description)).toMatch(/over 25 MB/);
    expect(await storedCounts(server)).toEqual(before);
    const [row] = await server.db
      .knex('direct_attachments as a')
      .join('direct_attachment_parts as p', 'p.attachment_id', 'a.id')
      .where('a.filename', 'scan.pdf')
      .select(server.db.knex.raw('sum(octet_length(p.data))::int as bytes, count(*)::int as parts'));
    expect(row).toEqual({ bytes: room, parts: 25 });
    console.log(`25 MB limit: ${room} bytes + text accepted in ${acceptedMs} ms; ${over.length} bytes + text refused (413)`);
  });
});

describe('guessing addresses', () => {
  test('100 messages to unknown addresses within an hour lock the app out (429 with Retry-After)', async () => {
    const guesser = await registerClinic(server, 'Address Guesser');
    const guesserToken = await directToken(guesser);
    const statuses: number[] = [];
    for (let i = 0; i < 101; i += 1) {
      statuses.push((await postMessage(server, guesserToken, { to: `guess${i}@direct.carevault.test`, subject: 'x' })).status);
    }
    expect(statuses.slice(0, 100).every((status) => status === 404)).toBe(true);
    const locked = await postMessage(server, guesserToken, { to: alex.address, subject: 'Now a real one' });
    expect(statuses[100]).toBe(429);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(String(locked.json.error_description)).toMatch(/^Too many messages to Direct addresses that do not exist\. Try again in 60 minutes\.$/);
    // Other apps are not affected.
    expect((await postMessage(server, token, { to: alex.address, subject: 'Still fine' })).status).toBe(201);
    console.log(`address guessing: 100 × 404, then ${statuses[100]} (even for a real address) with Retry-After ${locked.headers.get('retry-after')} s`);
  });
});

describe('receiving over SMTP', () => {
  test("nodemailer, signed in with the app's client id and secret, delivers a PDF and a C-CDA", async () => {
    const transport = smtpTransport(smtpPort, clinic);
    const info = await transport.sendMail({
      from: 'results@riverside.example',
      to: alex.address,
      subject: 'Discharge summary',
      text: 'Attached: your discharge summary.',
      html: '<p>Attached: <b>your</b> discharge summary.<script>alert(1)</script></p>',
      attachments: [
        { filename: 'summary.pdf', content: PDF, contentType: 'application/pdf' },
        { filename: 'summary-ccda.xml', content: CCDA, contentType: 'text/xml' },
      ],
    });
    expect(info.accepted).toEqual([alex.address]);
    expect(info.response).toMatch(/^250 .*Delivered to 1 inbox/);

    const row = await server.db.knex('direct_messages').where({ subject: 'Discharge summary' }).first();
    expect(row).toMatchObject({
      sender_kind: 'app',
      via: 'smtp',
      sender_name: 'Riverside Clinic',
      sender_address: 'results@riverside.example',
      body: 'Attached: your discharge summary.',
    });
    const attachments = await server.db.knex('direct_attachments').where({ message_id: row.id }).orderBy('position');
    expect(attachments.map((item: { filename: string; content_type: string }) => [item.filename, item.content_type])).toEqual([
      ['summary.pdf', 'application/pdf'],
      ['summary-ccda.xml', 'text/xml'],
    ]);
    const parts = await server.db.knex('direct_attachment_parts').where({ attachment_id: attachments[1].id }).orderBy('seq');
    expect(Buffer.concat(parts.map((part: { data: Buffer }) => part.data)).equals(CCDA)).toBe(true);

    const inbox = await inboxText(alex);
    expect(inbox).toContain('Discharge summary');
    expect(inbox).toContain('results@riverside.example');
  });

  test('refusals come before anything is stored: 530, 535, 550, 552, 554', async () => {
    const before = await storedCounts(server);
    const mail = { from: 'results@riverside.example', to: alex.address, subject: 'Refused', text: 'x' };
    const dropper = await registerClinic(server, 'Drop Off Only', ['dopu']);

    const unauthenticated = await smtpRefusal(smtpTransport(smtpPort).sendMail(mail));
    expect(unauthenticated.code).toBe(530);
    expect(unauthenticated.response).toMatch(/Authentication required: sign in with SMTP AUTH/);

    const wrongSecret = await smtpRefusal(smtpTransport(smtpPort, { clientId: clinic.clientId, clientSecret: 'not-the-secret' }).sendMail(mail));
    expect(wrongSecret.code).toBe(535);
    expect(wrongSecret.response).toMatch(/client id as the user name and its client secret as the password/);

    const noCapability = await smtpRefusal(smtpTransport(smtpPort, dropper).sendMail(mail));
    expect(noCapability.code).toBe(535);
    expect(noCapability.response).toMatch(/not registered with the direct capability/);

    const unknown = await smtpRefusal(smtpTransport(smtpPort, clinic).sendMail({ ...mail, to: 'nobody.here@direct.carevault.test' }));
    expect(unknown.code).toBe(550);
    expect(unknown.response).toMatch(/There is no Direct address nobody\.here@direct\.carevault\.test/);

    const gif = await smtpRefusal(
      smtpTransport(smtpPort, clinic).sendMail({
        ...mail,
        attachments: [
          { filename: 'ok.pdf', content: PDF },
          { filename: 'pic.gif', content: GIF, contentType: 'image/gif' },
        ],
      }),
    );
    expect(gif.code).toBe(554);
    expect(gif.response).toMatch(/"pic\.gif" is of type image\/gif, which carevault does not accept.*Nothing was stored/);

    const started = Date.now();
    const oversize = await smtpRefusal(
      smtpTransport(smtpPort, clinic).sendMail({
        ...mail,
        attachments: [{ filename: 'big.pdf', content: Buffer.alloc(27 * MB, 0x25), contentType: 'application/pdf' }],
      }),
    );
    expect(oversize.code).toBe(552);
    expect(oversize.response).toMatch(/exceeds fixed maximum message size/);
    const oversizeMs = Date.now() - started;

    // Under the SMTP size but over 25 MB once decoded: refused at the end of DATA, also 552.
    const decodedOver = await smtpRefusal(
      smtpTransport(smtpPort, clinic).sendMail({
        ...mail,
        attachments: [
          { filename: 'big.pdf', content: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(25 * MB, 0x25)]), contentType: 'application/pdf' },
        ],
      }),
    );
    expect(decodedOver.code).toBe(552);
    expect(decodedOver.response).toMatch(/over 25 MB/);

    // SIZE is announced (nodemailer refuses to send more on its own); a client that declares a
    // larger size is refused at MAIL FROM, before it sends a byte of the body.
    const [, ehlo, auth, mailFrom] = await smtpDialog(smtpPort, [
      'EHLO test.example',
      authPlain(clinic.clientId, clinic.clientSecret ?? ''),
      `MAIL FROM:<results@riverside.example> SIZE=${40 * MB}`,
    ]);
    expect(ehlo).toMatch(new RegExp(`^250[- ]SIZE ${MAX_SMTP_BYTES}$`, 'm'));
    expect(ehlo).toMatch(/^250[- ]AUTH PLAIN LOGIN$/m);
    expect(ehlo).not.toMatch(/STARTTLS/);
    expect(auth).toMatch(/^235 /);
    expect(mailFrom).toMatch(/^552 .*exceeds fixed maximum message size/);

    expect(await storedCounts(server)).toEqual(before);
    console.log(`SMTP refusals: 530, 535, 535, 550, 554, 552 (27 MB in ${oversizeMs} ms), 552 (decoded), 552 (declared SIZE): 0 stored`);
  });

  test('at most 20 recipients in one message (452 for the 21st)', async () => {
    // A parent with 20 records in their care, each with its address.
    const parent = await signUp(server, 'Pat Many');
    for (let i = 1; i <= 20; i += 1) {
      const page = await parent.browser.visit('/records');
      await parent.browser.submit(page, { name: `Kid ${String.fromCharCode(64 + i)} Many`, birth_date: '2020-01-01', relationship: 'child' }, '/records');
    }
    const list = await parent.browser.visit('/records');
    const addresses = [...list.html.matchAll(/>(kid\.[a-z]\.many@direct\.carevault\.test)</g)].map((match) => match[1] as string);
    expect(addresses).toHaveLength(20);
    const replies = await smtpDialog(smtpPort, [
      'EHLO test.example',
      authPlain(clinic.clientId, clinic.clientSecret ?? ''),
      'MAIL FROM:<results@riverside.example>',
      ...addresses.map((address) => `RCPT TO:<${address}>`),
      `RCPT TO:<${parent.address}>`,
    ]);
    const rcpt = replies.slice(4).map((reply) => reply.slice(0, 3));
    expect(rcpt).toEqual([...Array.from({ length: 20 }, () => '250'), '452']);
    expect(replies.at(-1)).toMatch(/At most 20 recipients per message/);
  });
});

describe('signing in over SMTP (AUTH)', () => {
  const mail = (subject: string) => ({ from: 'results@clinic.example', to: alex.address, subject, text: 'x' });

  /** nodemailer sending from the local address `from` (127.0.0.0/8 is all this machine), as `app`. */
  const from = (app: { clientId: string; clientSecret: string | undefined }, address: string) => smtpTransport(smtpPort, app, { localAddress: address });

  /** The reply to a wrong secret for `clientId` sent from `address`. */
  const guess = async (clientId: string, address: string, secret = 'wrong-guess') =>
    smtpRefusal(from({ clientId, clientSecret: secret }, address).sendMail(mail('Guess')));

  test('wrong secrets from many addresses never shut the app out: its right secret from another address is delivered', async () => {
    const target = await registerClinic(server, 'Targeted Clinic');
    const codes: number[] = [];
    for (let i = 0; i < 10; i += 1) codes.push((await guess(target.clientId, `127.0.1.${10 + i}`)).code);
    // Anyone who knows the client id (it is public) tried: each address was told the secret is wrong.
    expect(codes).toEqual(Array.from({ length: 10 }, () => 535));

    // The app, from an address that has not guessed, is heard at once.
    const info = await from(target, '127.0.1.50').sendMail(mail('After ten wrong guesses by others'));
    expect(info.response).toMatch(/^250 .*Delivered to 1 inbox/);
    expect(await server.db.knex('direct_messages').where({ subject: 'After ten wrong guesses by others' }).first()).toMatchObject({
      sender_name: 'Targeted Clinic',
    });

    // An address that has guessed waits longer after each wrong guess beyond the first five (a wait, never a lock)…
    const waiting = await smtpRefusal(from(target, '127.0.1.10').sendMail(mail('From a guessing address')));
    expect(waiting.code).toBe(454);
    expect(waiting.response).toMatch(/Too many failed sign-ins for this app\. Try again in \d+ seconds\./);
    // …and the app is still heard from its own address.
    expect((await from(target, '127.0.1.51').sendMail(mail('Still heard'))).response).toMatch(/^250 /);
    console.log(`SMTP AUTH: 10 wrong secrets from 10 addresses (${codes.join(', ')}); the right one from an 11th: 250; a guessing address: ${waiting.code}`);
  });

  test('one address guessing at an app is stopped; the app itself, elsewhere, is not', async () => {
    const target = await registerClinic(server, 'Brute-forced Clinic');
    const codes: number[] = [];
    for (let i = 0; i < 7; i += 1) codes.push((await guess(target.clientId, '127.0.1.60', `guess-${i}`)).code);
    // Five wrong secrets (DIRECT_SMTP_AUTH_FAILURES_PER_APP) from one address: that address is refused for this app.
    expect(codes).toEqual([535, 535, 535, 535, 535, 454, 454]);
    const locked = await smtpRefusal(from(target, '127.0.1.60').sendMail(mail('From the guessing address')));
    expect(locked.code).toBe(454);
    expect(locked.response).toMatch(/Too many failed sign-ins for this app from your network\. Try again in 15 minutes\./);
    expect((await from(target, '127.0.1.61').sendMail(mail('From the app'))).response).toMatch(/^250 /);
    console.log(`SMTP AUTH from one address: ${codes.join(', ')}; the right secret there: ${locked.code}, from elsewhere: 250`);
  });

  test('an unknown client id is answered and counted as a wrong secret is', async () => {
    const known = await registerClinic(server, 'Known Clinic');
    const unknownCodes: number[] = [];
    const knownCodes: number[] = [];
    const replies = new Set<string>();
    for (let i = 0; i < 6; i += 1) {
      const unknown = await guess('no-such-app', '127.0.1.70');
      const wrong = await guess(known.clientId, '127.0.1.71');
      unknownCodes.push(unknown.code);
      knownCodes.push(wrong.code);
      if (i === 0) replies.add(unknown.response).add(wrong.response);
    }
    expect(unknownCodes).toEqual(knownCodes);
    expect(replies.size).toBe(1);
  });

  test('at once: 60 wrong secrets from 10 addresses while the app sends 5 messages from its own address — all 5 are delivered', async () => {
    const target = await registerClinic(server, 'Busy Clinic');
    const wave = (round: number) => Array.from({ length: 30 }, (_, i) => guess(target.clientId, `127.0.2.${10 + (i % 10)}`, `guess-${round}-${i}`));
    const first = await Promise.all(wave(1));
    const sends = Array.from({ length: 5 }, (_, i) =>
      from(target, '127.0.2.100')
        .sendMail(mail(`Busy ${i}`))
        .then(
          (info) => info.response,
          (error: { response?: string }) => String(error.response),
        ),
    );
    const [second, sent] = await Promise.all([Promise.all(wave(2)), Promise.all(sends)]);
    expect(sent.filter((response) => /^250 /.test(response))).toHaveLength(5);
    // Each guess is told it is wrong, or (once the app has been guessed at five times) to wait.
    const attackReplies = [...first, ...second];
    expect(attackReplies.every((reply) => reply.code === 535 || reply.code === 454)).toBe(true);
    console.log(
      `60 concurrent wrong secrets (${attackReplies.filter((r) => r.code === 535).length} × 535, ${attackReplies.filter((r) => r.code === 454).length} × 454) beside 5 sends by the app: ${sent.filter((r) => /^250 /.test(r)).length} delivered`,
    );
  });
});

describe('mail whose only body is HTML', () => {
  const HTML =
    '<h1>Your results</h1><p>Hemoglobin A1c: <b>6.1 %</b></p><script>steal()</script><p><a href="https://riverside.example/portal">Your portal</a></p>';

  /** A raw message whose body is multipart/alternative holding only an HTML part. */
  function alternativeOnlyHtml(subject: string): string {
    return [
      'From: results@riverside.example',
      `To: ${alex.address}`,
      `Subject: ${subject}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(HTML).toString('base64'),
      '--b1--',
      '',
    ].join('\r\n');
  }

  test('is kept as its text (beside attachments, or as the only alternative); HTML that cannot be turned into text is refused, nothing stored', async () => {
    const transport = smtpTransport(smtpPort, clinic);
    const mixed = await transport.sendMail({
      from: 'results@riverside.example',
      to: alex.address,
      subject: 'HTML beside a PDF',
      html: HTML,
      attachments: [{ filename: 'results.pdf', content: PDF, contentType: 'application/pdf' }],
    });
    expect(mixed.response).toMatch(/^250 /);
    await transport.sendMail({ envelope: { from: 'results@riverside.example', to: [alex.address] }, raw: alternativeOnlyHtml('HTML as the only alternative') });

    for (const subject of ['HTML beside a PDF', 'HTML as the only alternative']) {
      const row = await server.db.knex('direct_messages').where({ subject }).first('id', 'body');
      expect(row.body).toContain('Hemoglobin A1c: 6.1 %');
      expect(row.body).toContain('Your portal [https://riverside.example/portal]');
      expect(row.body).not.toMatch(/[<>]|steal/);
      const shown = textOf((await alex.browser.visit(`/inbox/${alex.recordId}/messages/${String(row.id)}`)).html);
      expect(shown).toContain('Hemoglobin A1c: 6.1 %');
    }

    // Nested past what can be converted (or past 1 MB of HTML): refused with the reason, never delivered empty.
    const before = await storedCounts(server);
    const deep = await smtpRefusal(
      transport.sendMail({
        from: 'results@riverside.example',
        to: alex.address,
        subject: 'Deep',
        html: `${'<b>'.repeat(5000)}x`,
        attachments: [{ filename: 'a.pdf', content: PDF }],
      }),
    );
    expect(deep.code).toBe(554);
    expect(deep.response).toMatch(/HTML could not be turned into text.*Nothing was stored/);
    const long = await smtpRefusal(
      transport.sendMail({ from: 'results@riverside.example', to: alex.address, subject: 'Long', html: `<p>${'words '.repeat(200_000)}</p>` }),
    );
    expect(long.code).toBe(554);
    expect(long.response).toMatch(/HTML could not be turned into text/);
    expect(await storedCounts(server)).toEqual(before);
    console.log(`HTML-only mail: stored as text (multipart/mixed and a lone alternative); nested 5000 deep: ${deep.code}; 1.2 MB of HTML: ${long.code}`);
  });
});

describe('attachment names', () => {
  /** The stored names of a message's attachments, in order. */
  async function storedNames(messageId: string): Promise<string[]> {
    const rows = await server.db.knex('direct_attachments').where({ message_id: messageId }).orderBy('position').select('filename');
    return rows.map((row: { filename: string }) => row.filename);
  }

  test("end with the checked type's extension and keep no format or control characters: API, SMTP, the page and the download", async () => {
    const sent = await postMessage(server, token, {
      to: alex.address,
      subject: 'Names',
      attachments: [
        // A right-to-left override: shown as "scansj.pdf", saved as a script.
        attachment('scan\u202Efdp.js', 'application/pdf', PDF),
        attachment('page.html', 'text/plain', Buffer.from('plain words')),
        attachment('open.hta', 'application/xml', CCDA),
        attachment('x\u200B\u2066y\u2069.png', 'image/png', PNG),
        attachment('REPORT.PDF', 'application/pdf', PDF),
        attachment('photo', 'image/png', PNG),
      ],
    });
    expect(sent.status).toBe(201);
    const apiNames = await storedNames(String(sent.json.id));
    expect(apiNames).toEqual(['scanfdp.js.pdf', 'page.html.txt', 'open.hta.xml', 'xy.png', 'REPORT.PDF', 'photo.png']);

    await smtpTransport(smtpPort, clinic).sendMail({
      from: 'results@riverside.example',
      to: alex.address,
      subject: 'Names over SMTP',
      text: 'x',
      attachments: [
        { filename: 'lab\u202Etxt.exe', content: Buffer.from('results'), contentType: 'text/plain' },
        { filename: 'invoice.pdf.html', content: PDF, contentType: 'application/pdf' },
      ],
    });
    const row = await server.db.knex('direct_messages').where({ subject: 'Names over SMTP' }).first('id');
    expect(await storedNames(String(row.id))).toEqual(['labtxt.exe.txt', 'invoice.pdf.html.pdf']);

    // A name kept before this rule (as an operator would find it) is shown and served by it too.
    await server.db
      .knex('direct_attachments')
      .where({ message_id: String(sent.json.id), position: 5 })
      .update({ filename: 'kept\u202Egnp.exe' });

    // The page lists the names; the downloads are named the same.
    const messageUrl = `/inbox/${alex.recordId}/messages/${String(sent.json.id)}`;
    const page = await alex.browser.visit(messageUrl);
    expect(page.html).not.toMatch(/[\u202E\u200B\u2066\u2069]/);
    expect(textOf(page.html)).toContain('scanfdp.js.pdf');
    const links = [...page.html.matchAll(/href="([^"]+\/attachments\/[^"]+)"/g)].map((match) => match[1] as string);
    const disposition = async (link: string | undefined) => (await alex.browser.request(String(link))).headers.get('content-disposition');
    const download = await alex.browser.request(String(links[0]));
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    // The whole header: the name alone, no filename* carrying other characters.
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="?scanfdp\.js\.pdf"?$/);
    expect(await disposition(links[1])).toMatch(/^attachment; filename="?page\.html\.txt"?$/);
    expect(await disposition(links[5])).toMatch(/^attachment; filename="?keptgnp\.exe\.png"?$/);
    console.log(`attachment names: ${apiNames.join(', ')}; download ${download.headers.get('content-disposition')}`);
  });
});

describe('the Send form at the HTTP level', () => {
  /** The inbox's Send form of `member`: where it posts and its CSRF token. */
  async function sendForm(member: Member, path = '/inbox') {
    const page = await member.browser.visit(path);
    return { action: /action="([^"]+\/send)"/.exec(page.html)?.[1] ?? '', csrf: /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '' };
  }

  function post(member: Member, action: string, form: FormData) {
    return fetch(new URL(action, server.issuer), {
      method: 'POST',
      body: form,
      redirect: 'manual',
      headers: { accept: 'text/html', cookie: member.browser.cookiesFor(action) },
    });
  }

  function message(fields: Record<string, string>, files: { name: string; type: string; content: Buffer }[] = []): FormData {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    for (const file of files) form.append('attachments', new Blob([new Uint8Array(file.content)], { type: file.type }), file.name);
    return form;
  }

  test("sends with a file; refuses a missing CSRF token, 21 files, a form over the limit before reading it, and someone else's record", async () => {
    const sam = await signUp(server, 'Sam Form');
    const { action, csrf } = await sendForm(sam);
    const before = await storedCounts(server);

    const sent = await post(
      sam,
      action,
      message({ _csrf: csrf, to: alex.address, subject: 'Form', message: 'With a file' }, [
        { name: 'note.txt', type: 'text/plain', content: Buffer.from('hello') },
      ]),
    );
    expect(sent.status).toBe(303);
    expect(sent.headers.get('location')).toBe(`${action.replace(/\/send$/, '')}?done=sent`);

    const noToken = await post(sam, action, message({ to: alex.address, subject: 'No token' }));
    expect(noToken.status).toBe(403);
    expect(textOf(await noToken.text())).toContain('This form has expired or did not come from carevault');

    const tooMany = await post(
      sam,
      action,
      message(
        { _csrf: csrf, to: alex.address, subject: 'Many' },
        Array.from({ length: 21 }, (_, i) => ({ name: `p${i}.png`, type: 'image/png', content: PNG })),
      ),
    );
    expect(tooMany.status).toBe(400);
    expect(textOf(await tooMany.text())).toContain('A message can carry at most 20 attachments: nothing was sent.');

    // Someone else's record: it does not exist for Sam.
    const foreign = await post(sam, `/inbox/${alex.recordId}/send`, message({ _csrf: csrf, to: alex.address, subject: 'As Alex' }));
    expect(foreign.status).toBe(404);

    // A declared length over the limit is refused before a byte of the body is read.
    const huge = await new Promise<number>((resolve, reject) => {
      const request = http.request(new URL(action, server.issuer), {
        method: 'POST',
        headers: {
          'content-type': 'multipart/form-data; boundary=x',
          'content-length': String(40 * MB),
          cookie: sam.browser.cookiesFor(action),
          accept: 'text/html',
        },
      });
      request.on('response', (res) => {
        resolve(res.statusCode ?? 0);
        request.destroy();
      });
      request.on('error', reject);
      request.flushHeaders();
    });
    expect(huge).toBe(413);

    const after = await storedCounts(server);
    expect(after).toEqual({ messages: before.messages + 1, attachments: before.attachments + 1 });
    console.log(`Send form: sent 1 (303); refused no CSRF 403, 21 files ${tooMany.status}, another's record ${foreign.status}, 40 MB declared ${huge} unread`);
  });
});

describe('storage is transactional', () => {
  test('a failure while storing the second attachment leaves no half message (SMTP 451, API 500)', async () => {
    // As an operator could break it: the database refuses one attachment by name.
    await server.db.knex.raw(`create function direct_test_refuse() returns trigger language plpgsql as $$
      begin if new.filename = 'boom.pdf' then raise exception 'disk full'; end if; return new; end $$`);
    await server.db.knex.raw('create trigger direct_test_refuse before insert on direct_attachments for each row execute function direct_test_refuse()');
    try {
      const before = await storedCounts(server);
      const failed = await smtpRefusal(
        smtpTransport(smtpPort, clinic).sendMail({
          from: 'results@riverside.example',
          to: alex.address,
          subject: 'Half',
          text: 'x',
          attachments: [
            { filename: 'fine.pdf', content: PDF },
            { filename: 'boom.pdf', content: PDF },
          ],
        }),
      );
      expect(failed.code).toBe(451);
      expect(failed.response).toMatch(/nothing was kept/);
      const api = await postMessage(server, token, {
        to: alex.address,
        subject: 'Half',
        text: 'x',
        attachments: [attachment('fine.pdf', 'application/pdf', PDF), attachment('boom.pdf', 'application/pdf', PDF)],
      });
      expect(api.status).toBe(500);
      expect(api.json).toEqual({ error: 'server_error', error_description: 'Something went wrong on our side. Please try again.' });
      expect(await storedCounts(server)).toEqual(before);
      expect(await server.db.knex('audit_events').where({ kind: 'direct.received' }).whereRaw(`details->>'subject' = 'Half'`).first()).toBeUndefined();
    } finally {
      await server.db.knex.raw('drop trigger direct_test_refuse on direct_attachments');
      await server.db.knex.raw('drop function direct_test_refuse()');
    }
  });
});

describe('addresses', () => {
  test('three Sam Lees loading their inboxes at once get sam.lee, sam.lee2 and sam.lee3, once each', async () => {
    const sams = [];
    for (let i = 0; i < 3; i += 1) sams.push(await signUpWithoutAddress('Sam Lee'));
    const loads = await Promise.all(sams.flatMap((sam) => Array.from({ length: 5 }, () => sam.browser.visit('/inbox'))));
    const statuses = loads.map((page) => page.status);
    expect(statuses.every((status) => status === 200)).toBe(true);
    const rows = await server.db
      .knex('direct_addresses')
      .whereIn(
        'record_id',
        sams.map((sam) => sam.recordId),
      )
      .select('record_id', 'local_part');
    expect(rows).toHaveLength(3);
    expect(rows.map((row: { local_part: string }) => row.local_part).sort()).toEqual(['sam.lee', 'sam.lee2', 'sam.lee3']);
    // Every page each Sam saw shows the one address their record has.
    for (const [index, sam] of sams.entries()) {
      const mine = rows.find((row: { record_id: string }) => row.record_id === sam.recordId)?.local_part;
      for (const page of loads.slice(index * 5, index * 5 + 5)) expect(page.html).toContain(`Direct address: <strong>${mine}@direct.carevault.test</strong>`);
    }
    console.log(
      `15 concurrent inbox loads by 3 people named Sam Lee: ${rows.length} addresses (${rows
        .map((row: { local_part: string }) => row.local_part)
        .sort()
        .join(', ')}), ${statuses.filter((s) => s >= 500).length} 5xx`,
    );
  });

  test('an address never changes: renaming the Patient keeps it', async () => {
    const lee = await signUp(server, 'Lee Before');
    expect(lee.address).toBe('lee.before@direct.carevault.test');
    const renamer = await registerTestApp(server, {
      client_name: 'Name Fixer',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
      rules: [{ scope: 'patient/Patient.rus', required: true, reason: 'Fix the spelling of your name' }],
    });
    const authorization = await startAuthorization(renamer, { scope: 'openid patient/Patient.rus' });
    const back = await authorizeInBrowser(lee.browser, authorization.url, lee.person);
    const tokens = await exchangeCode(renamer, authorization, back.location ?? '');
    const url = `${server.issuer}/fhir/Patient/${lee.recordId}`;
    const headers = { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' };
    const patient = (await (await fetch(url, { headers })).json()) as Record<string, unknown>;
    const renamed = await fetch(url, { method: 'PUT', headers, body: JSON.stringify({ ...patient, name: [{ text: 'Lee After' }] }) });
    expect(renamed.status).toBe(200);
    const inbox = await lee.browser.visit('/inbox');
    expect(textOf(inbox.html)).toContain('Inbox of Lee After');
    expect(await addressOnInbox(lee.browser)).toBe('lee.before@direct.carevault.test');
  });

  test('names fold to ASCII, and /records shows the address', async () => {
    const zoe = await signUp(server, 'Zoë Ångström-Ødegård');
    expect(zoe.address).toBe('zoe.angstrom.odegard@direct.carevault.test');
    const records = await zoe.browser.visit('/records');
    expect(textOf(records.html)).toContain('zoe.angstrom.odegard@direct.carevault.test');
  });
});

describe('Add to record', () => {
  test('ten racing clicks file the attachment once', async () => {
    const sent = await postMessage(server, token, {
      to: alex.address,
      subject: 'Race',
      text: '',
      attachments: [attachment('race-ccda.xml', 'application/xml', CCDA)],
    });
    expect(sent.status).toBe(201);
    const messageUrl = `/inbox/${alex.recordId}/messages/${String(sent.json.id)}`;
    const page = await alex.browser.visit(messageUrl);
    const action = /action="([^"]+\/file)"/.exec(page.html)?.[1] ?? '';
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
    const results = await Promise.all(Array.from({ length: 10 }, () => alex.browser.request(action, { form: { _csrf: csrf } })));
    const places = results.map((result) => result.location ?? `status ${result.status}`);
    const documents = await server.db
      .knex('resources')
      .where({ type: 'DocumentReference', record_id: alex.recordId })
      .whereRaw(`content->'content'->0->'attachment'->>'title' = 'race-ccda.xml'`);
    expect(documents).toHaveLength(1);
    // A clinical document goes on to the review of its items: every click to the one document's review.
    expect(new Set(places)).toEqual(new Set([`${server.issuer}/records/${alex.recordId}/documents/${String(documents[0]?.id)}/items`]));
    console.log(`10 racing "Add to record": ${documents.length} DocumentReference, every click led to its review`);
  });
});

describe('the listener', () => {
  // A second server of its own, with a certificate: it is stopped by the last test.
  let secured: TestServer | undefined;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], {
      stdio: 'ignore',
    });
    port = await freePort();
    secured = await startTestServer({ DIRECT_SMTP_PORT: String(port), DIRECT_TLS_CERT: cert, DIRECT_TLS_KEY: key });
  });

  afterAll(async () => {
    await secured?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('with a certificate, STARTTLS is offered and AUTH needs it', async () => {
    const server = secured as TestServer;
    const app = await registerClinic(server);
    const member = await signUp(server, 'Tess Tls');
    const [, ehlo, auth] = await smtpDialog(port, ['EHLO test.example', authPlain(app.clientId, app.clientSecret ?? '')]);
    expect(ehlo).toMatch(/^250[- ]STARTTLS$/m);
    expect(auth).toMatch(/^538 /);
    const plain = await smtpRefusal(smtpTransport(port, app).sendMail({ from: 'a@b.example', to: member.address, text: 'x' }));
    expect(plain.code).toBe(538);
    const tls = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: app.clientId, pass: app.clientSecret ?? '' },
    });
    const info = await tls.sendMail({ from: 'a@b.example', to: member.address, subject: 'Over TLS', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    console.log(`STARTTLS: AUTH in clear text refused (${String(auth).slice(0, 3)}), signed in over STARTTLS and delivered`);
  });

  test('closes with the server: the SMTP port is free again, even with a client connected', async () => {
    const idle = net.connect(port, '127.0.0.1');
    const greeting = await new Promise<string>((resolve) => idle.once('data', (data) => resolve(data.toString())));
    expect(greeting).toMatch(/^220 .*carevault Direct receiver/);
    const started = Date.now();
    await (secured as TestServer).stop();
    secured = undefined;
    const stopMs = Date.now() - started;
    idle.destroy();
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, () => probe.close(() => resolve(true)));
    });
    expect(free).toBe(true);
    console.log(`server stopped in ${stopMs} ms with an SMTP client connected; port ${port} free: ${free}`);
  });
});

/** A person whose record has no Direct address yet (they have not opened /inbox or /records). */
async function signUpWithoutAddress(name: string) {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  const page = await browser.visit('/register');
  await createAccountThrough(browser, page, person);
  return { person, browser, recordId: await ownRecordOf(server, person.email) };
}
