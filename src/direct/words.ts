/**
 * Direct messaging's audit events in a record's history, in words.
 */
import { detailText, type AuditWords, type NewsKind } from '../audit/words';

/** " with 2 attachments", " with 1 attachment", or nothing. */
function withAttachments(count: unknown): string {
  if (typeof count !== 'number' || count <= 0) return '';
  return ` with ${count} attachment${count === 1 ? '' : 's'}`;
}

const subjectOf = (details: Record<string, unknown>) => detailText(details.subject, '(no subject)');

export const DIRECT_WORDS: AuditWords = {
  'direct.received': (event, { app }) => {
    const d = event.details;
    // An app by its registered name; a member's record (named as they like) as a member's, with its Direct address.
    const sender = event.client_id
      ? app
      : `${detailText(d.sender_name, 'Someone')}, a carevault member${typeof d.sender_address === 'string' ? ` (${d.sender_address})` : ''},`;
    return `${sender} sent you '${subjectOf(d)}'${withAttachments(d.attachments)}`;
  },
  'direct.sent': (event, { person }) =>
    `${person} sent '${subjectOf(event.details)}' to ${detailText(event.details.to, 'another address')}${withAttachments(event.details.attachments)}`,
  'direct.filed': (event, { person }) =>
    `${person} added ${detailText(event.details.filename, 'an attachment')} from the message '${subjectOf(event.details)}' to this record as a document`,
  'direct.deleted': (event, { person }) =>
    `${person} deleted the message '${subjectOf(event.details)}' from ${detailText(event.details.sender_name, 'someone')}`,
  'direct.restored': (event, { person }) =>
    `${person} brought back the deleted message '${subjectOf(event.details)}' from ${detailText(event.details.sender_name, 'someone')}`,
};

/** A message arriving is news; a filed attachment is an item added to the record. */
export const DIRECT_NEWS: Readonly<Record<string, NewsKind>> = { 'direct.received': 'message', 'direct.filed': 'item' };
