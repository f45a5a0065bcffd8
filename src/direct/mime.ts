/**
 * A received mail (MIME, RFC 5322/2045) as a Direct message: subject, plain text, attachments
 * (issue 12 §3). mailparser does the MIME; HTML is never kept — when a mail has only HTML, its text
 * rendering is used. Control characters are dropped from what people will read.
 */
import { simpleParser } from 'mailparser';
import type { IncomingAttachment } from './attachments';
import { RefusedMessage } from './errors';
import { MAX_SUBJECT_CHARS } from './limits';

export type ParsedMail = { subject: string; text: string; attachments: IncomingAttachment[] };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/** Text people can read and PostgreSQL can store: no control characters, no broken Unicode. */
export function readableText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(CONTROL, '').toWellFormed();
}

/** @throws RefusedMessage when the bytes cannot be read as mail at all. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  let mail: Awaited<ReturnType<typeof simpleParser>>;
  try {
    mail = await simpleParser(raw, { skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
  } catch {
    throw new RefusedMessage('The message could not be read as MIME mail (RFC 5322, RFC 2045).');
  }
  const subject = readableText(mail.subject ?? '').replace(/\s+/g, ' ').trim().slice(0, MAX_SUBJECT_CHARS);
  return {
    subject,
    text: readableText(mail.text ?? ''),
    attachments: mail.attachments.map((attachment) => ({
      filename: attachment.filename ?? '',
      contentType: attachment.contentType ?? 'application/octet-stream',
      content: attachment.content,
    })),
  };
}
