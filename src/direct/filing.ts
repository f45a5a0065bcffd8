/**
 * "Add to record": an attachment becomes a FHIR DocumentReference whose content is the attachment
 * itself (base64, its type, its name as `title`, size and SHA-1 hash as FHIR asks), carrying its
 * words in standard fields: `description` names the file and who sent it ("Discharge summary.pdf ·
 * from Riverside Clinic"), `author` is the sender by display, `date` is when it was filed and
 * `attachment.creation` when it arrived; the message's subject goes in `context.related`'s display.
 * A C-CDA is kept as a document — only the document type its header states is read, so apps can
 * search for it.
 * https://hl7.org/fhir/R4/documentreference.html
 */
import { createHash } from 'node:crypto';
import { kindOfStored, type AttachmentKind } from './attachments';
import { senderWords, type ShownSender } from './senders';

/** What the record's page and FHIR searches show as the document's type. */
const TYPE_TEXT: Readonly<Record<AttachmentKind, string>> = {
  pdf: 'PDF document',
  png: 'Image',
  jpeg: 'Image',
  text: 'Text document',
  cda: 'Clinical document (C-CDA)',
  fhir: 'FHIR resource',
};

const LOINC_OID = '2.16.840.1.113883.6.1';

function attribute(attributes: string, name: string): string | undefined {
  const value = new RegExp(`\\b${name}\\s*=\\s*"([^"]{1,200})"`).exec(attributes)?.[1];
  return value
    ?.replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * The document type a C-CDA states in its header (`ClinicalDocument/code`, LOINC), so apps can
 * search for it (`type=http://loinc.org|34133-9`). Only that one header element is read.
 */
export function cdaDocumentCode(content: Buffer): { system: string; code: string; display?: string } | undefined {
  const head = content.subarray(0, 64 * 1024).toString('utf8');
  // The header's first <code> element is the document's (realmCode, typeId, templateId and id come before it).
  const match = /<(?:[A-Za-z_][\w.-]*:)?code\s([^>]*)>/.exec(head);
  if (!match?.[1]) return undefined;
  const code = attribute(match[1], 'code');
  if (!code || attribute(match[1], 'codeSystem') !== LOINC_OID || !/^[0-9]{1,7}-[0-9]$/.test(code)) return undefined;
  const display = attribute(match[1], 'displayName');
  return { system: 'http://loinc.org', code, ...(display ? { display } : {}) };
}

export type FiledAttachment = { filename: string; contentType: string; content: Buffer };

export type FromMessage = { sender: ShownSender; subject: string; receivedAt: Date; filedAt?: Date };

export function documentReferenceOf(attachment: FiledAttachment, message: FromMessage): Record<string, unknown> {
  const kind = kindOfStored(attachment.contentType);
  const subject = message.subject || '(no subject)';
  const code = kind === 'cda' ? cdaDocumentCode(attachment.content) : undefined;
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    type: { ...(code ? { coding: [code] } : {}), text: kind ? TYPE_TEXT[kind] : 'Document' },
    date: (message.filedAt ?? message.receivedAt).toISOString(),
    description: `${attachment.filename} · from ${message.sender.name}`.slice(0, 1000),
    author: [{ display: senderWords(message.sender).slice(0, 500) }],
    context: { related: [{ display: `The message '${subject}'`.slice(0, 500) }] },
    content: [
      {
        attachment: {
          contentType: attachment.contentType,
          data: attachment.content.toString('base64'),
          title: attachment.filename,
          size: attachment.content.length,
          hash: createHash('sha1').update(attachment.content).digest('base64'),
          creation: message.receivedAt.toISOString(),
        },
      },
    ],
  };
}
