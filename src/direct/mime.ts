/**
 * A received mail (MIME, RFC 5322/2045) as a Direct message: subject, plain text, attachments.
 * mailparser does the MIME. HTML is never kept or shown: the message is its plain-text part, or,
 * when it has only HTML (alone, beside attachments, or as the one alternative), that HTML turned
 * into text by mailparser's converter (html-to-text, with its guards on length and nesting). HTML
 * that cannot be converted refuses the message rather than delivering it empty. Control
 * characters are dropped from what people will read.
 */
import { simpleParser, type ParsedMail as MailparserMail } from 'mailparser';
import type { IncomingAttachment } from './attachments';
import { RefusedMessage } from './errors';
import { MAX_HTML_CHARS, MAX_SUBJECT_CHARS } from './limits';

export type ParsedMail = { subject: string; text: string; attachments: IncomingAttachment[] };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/** HTML past MAX_HTML_CHARS, or nested deeper than mailparser converts, is not converted. */
const OPTIONS = { skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true, maxHtmlLengthToParse: MAX_HTML_CHARS } as const;

/** Text people can read and PostgreSQL can store: no control characters, no broken Unicode. */
function readableText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(CONTROL, '').toWellFormed();
}

function unconvertible(reason: string): RefusedMessage {
  return new RefusedMessage(`The message's HTML could not be turned into text (${reason}): send it with a plain-text part.`);
}

async function parse(raw: Buffer): Promise<MailparserMail> {
  let mail: MailparserMail;
  try {
    mail = await simpleParser(raw, OPTIONS);
  } catch {
    throw new RefusedMessage('The message could not be read as MIME mail (RFC 5322, RFC 2045).');
  }
  if (mail.textConversionError) throw unconvertible(mail.textConversionError.message);
  return mail;
}

/**
 * The text of HTML that mailparser left unconverted: it converts only a mail's root HTML part, or
 * one beside plain text. Handing the HTML back to it as a mail of its own converts it with the
 * same converter and the same guards.
 */
async function textOfHtml(html: string): Promise<string> {
  if (html.length > MAX_HTML_CHARS) throw unconvertible(`over ${MAX_HTML_CHARS.toLocaleString('en')} characters`);
  const base64 = Buffer.from(html).toString('base64').replace(/.{76}/g, '$&\r\n');
  const mail = await parse(Buffer.from(`Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64}\r\n`));
  return mail.text ?? '';
}

/** @throws RefusedMessage when the bytes cannot be read as mail at all, or its HTML not as text. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  const mail = await parse(raw);
  const subject = readableText(mail.subject ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_SUBJECT_CHARS);
  const text = mail.text?.trim() || typeof mail.html !== 'string' ? (mail.text ?? '') : await textOfHtml(mail.html);
  return {
    subject,
    text: readableText(text),
    attachments: mail.attachments.map((attachment) => ({
      filename: attachment.filename ?? '',
      contentType: attachment.contentType ?? 'application/octet-stream',
      content: attachment.content,
    })),
  };
}
