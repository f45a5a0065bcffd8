/**
 * "Add to record" (issue 12 §5): an attachment becomes a FHIR DocumentReference whose content is
 * the attachment itself (base64, its type, its name, size and SHA-1 hash as FHIR asks). A C-CDA is
 * kept as a document; extracting its entries into Observations and Conditions is a later step.
 * https://hl7.org/fhir/R4/documentreference.html
 */
import { createHash } from 'node:crypto';
import { kindOfStored, type AttachmentKind } from './attachments';

/** What the record's page and FHIR searches show as the document's type. */
const TYPE_TEXT: Readonly<Record<AttachmentKind, string>> = {
  pdf: 'PDF document',
  png: 'Image',
  jpeg: 'Image',
  text: 'Text document',
  cda: 'Clinical document (C-CDA)',
  fhir: 'FHIR resource',
};

export type FiledAttachment = { filename: string; contentType: string; content: Buffer };

export type FromMessage = { senderName: string; subject: string; receivedAt: Date };

export function documentReferenceOf(attachment: FiledAttachment, message: FromMessage): Record<string, unknown> {
  const kind = kindOfStored(attachment.contentType);
  const subject = message.subject || '(no subject)';
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    type: { text: kind ? TYPE_TEXT[kind] : 'Document' },
    date: message.receivedAt.toISOString(),
    description: `${attachment.filename}, from ${message.senderName}: ${subject}`.slice(0, 1000),
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
