/**
 * Direct messaging in tests: a clinic app sending through the API (openid-client's
 * client-credentials grant) and over SMTP (nodemailer, signed in with the app's client id and
 * secret), people signed up with an HTTP-level browser who read their Direct address off their
 * inbox page, and small but real attachments (a PDF, a C-CDA, a PNG).
 */
import http from 'node:http';
import net from 'node:net';
import nodemailer from 'nodemailer';
import * as oidc from 'openid-client';
import { newPerson, registerTestApp, type TestApp } from './app';
import { Browser, textOf } from './browser';
import { ownRecordOf, type TestServer } from './server';
import { createAccountThrough } from './forms';

export const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n',
);

export const CCDA = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc">
  <realmCode code="US"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>
  <id root="2.16.840.1.113883.19.5.99999.1" extension="TT988"/>
  <code code="34133-9" codeSystem="2.16.840.1.113883.6.1" displayName="Summarization of Episode Note"/>
  <title>Riverside Clinic: Continuity of Care Document</title>
  <effectiveTime value="20260301120000-0500"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="en-US"/>
  <recordTarget><patientRole><id extension="998991" root="2.16.840.1.113883.4.1"/></patientRole></recordTarget>
  <component><structuredBody/></component>
</ClinicalDocument>
`);

/** A 1×1 PNG. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

/** A GIF: a type carevault does not accept. */
export const GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

export function registerClinic(server: TestServer, name = 'Riverside Clinic', capabilities: string[] = ['direct']): Promise<TestApp> {
  return registerTestApp(server, { client_name: name, token_endpoint_auth_method: 'client_secret_basic', capabilities });
}

/** A client-credentials token with the `direct` scope, as an app gets one. */
export async function directToken(app: TestApp, scope = 'direct'): Promise<string> {
  return (await oidc.clientCredentialsGrant(app.config, { scope })).access_token;
}

export type ApiAttachment = { filename: string; content_type: string; data: string };

export function attachment(filename: string, contentType: string, content: Buffer): ApiAttachment {
  return { filename, content_type: contentType, data: content.toString('base64') };
}

/**
 * `POST /api/direct/messages`, on a connection of its own: a body of tens of MB sent on a kept-alive
 * connection the server is just closing would fail in the test, not in carevault.
 */
export async function postMessage(server: TestServer, token: string | undefined, body: unknown, contentType = 'application/json') {
  const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const { status, headers, text } = await new Promise<{ status: number; headers: Headers; text: string }>((resolve, reject) => {
    const request = http.request(
      new URL('/api/direct/messages', server.issuer),
      {
        method: 'POST',
        agent: false,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': contentType, 'content-length': String(payload.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const answer = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') answer.set(name, value);
          resolve({ status: res.statusCode ?? 0, headers: answer, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status, json, headers };
}

/** nodemailer's SMTP transport to the Direct receiver, signed in as `app` (or not at all). */
export function smtpTransport(port: number, app?: { clientId: string; clientSecret: string | undefined }, options: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    ...(app ? { auth: { user: app.clientId, pass: app.clientSecret ?? '' } } : {}),
    ...options,
  });
}

/** The SMTP reply code of a failed send (nodemailer puts it on the error). */
export async function smtpRefusal(sending: Promise<unknown>): Promise<{ code: number; response: string }> {
  try {
    await sending;
  } catch (error) {
    const failure = error as { responseCode?: number; response?: string };
    return { code: failure.responseCode ?? 0, response: failure.response ?? String(error) };
  }
  throw new Error('the SMTP send was accepted');
}

export type Member = {
  person: ReturnType<typeof newPerson>;
  browser: Browser;
  recordId: string;
  /** Their own record's Direct address, as their inbox page shows it. */
  address: string;
};

/** Registers a person (HTTP-level browser) and reads their Direct address off /inbox. */
export async function signUp(server: TestServer, name: string): Promise<Member> {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await createAccountThrough(browser, page, person);
  if (!textOf(page.html).includes(`Hello, ${name}`)) throw new Error(`could not register ${name}`);
  // The verification mail goes out after the answer; a test may read it next.
  await server.settled();
  return { person, browser, recordId: await ownRecordOf(server, person.email), address: await addressOnInbox(browser) };
}

export async function addressOnInbox(browser: Browser, path = '/inbox'): Promise<string> {
  const page = await browser.visit(path);
  const address = /Direct address: <strong>([^<]+)<\/strong>/.exec(page.html)?.[1];
  if (!address) throw new Error(`no Direct address on ${path} (status ${page.status})`);
  return address;
}

/** How many messages and attachments are stored (as an operator would count them). */
export async function storedCounts(server: TestServer): Promise<{ messages: number; attachments: number }> {
  const [messages] = await server.db.knex('direct_messages').count<{ count: string }[]>('* as count');
  const [attachments] = await server.db.knex('direct_attachments').count<{ count: string }[]>('* as count');
  return { messages: Number(messages?.count ?? 0), attachments: Number(attachments?.count ?? 0) };
}

/**
 * A raw SMTP conversation, for what nodemailer will not do (declaring a SIZE over the announced
 * limit): sends each command after the previous reply; returns the greeting and each reply.
 */
export async function smtpDialog(port: number, commands: readonly string[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  let buffered = '';
  const waiters: ((reply: string) => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    // A reply is complete at a line "ddd text" (a space after the code, not a dash).
    for (let match = /^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/.exec(buffered); match; match = /^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/.exec(buffered)) {
      buffered = buffered.slice(match[0].length);
      waiters.shift()?.(match[0].trim());
    }
  });
  const next = () => new Promise<string>((resolve) => waiters.push(resolve));
  try {
    const replies = [await next()];
    for (const command of commands) {
      const reply = next();
      socket.write(`${command}\r\n`);
      replies.push(await reply);
    }
    return replies;
  } finally {
    socket.destroy();
  }
}

export function authPlain(clientId: string, secret: string): string {
  return `AUTH PLAIN ${Buffer.from(`\u0000${clientId}\u0000${secret}`).toString('base64')}`;
}
