/**
 * What sharing says: the invitation mail, the levels and dates as pages show them, and its audit
 * events on the record's history in plain words ("Sam shared this record with Alex: view only,
 * until 1 March 2027").
 */
import type { AuditWords } from '../audit/words';
import { detailText } from '../audit/words';
import { LEVEL_WORDS, type AccessLevel } from '../records/access';
import type { OutgoingMail } from '../mail';

/** How long an invitation's link works. */
export const INVITATION_DAYS = 7;

/** A day as the pages and the history say it ("1 March 2027"); an expiry is the end of that day (UTC). */
export function dayText(when: Date | string): string {
  return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date(when));
}

/** A level in the running text of a sentence ("view only"). */
function levelText(level: string): string {
  const words = (LEVEL_WORDS as Readonly<Record<string, string>>)[level];
  return words ? words.toLowerCase() : 'some access';
}

/** "view only, until 1 March 2027", or "view only" without an expiry. */
function accessText(level: string, until: unknown): string {
  return typeof until === 'string' && until ? `${levelText(level)}, until ${dayText(until)}` : levelText(level);
}

export function invitationMail(to: string, inviter: string, recordName: string, level: AccessLevel, until: Date | null, link: string): OutgoingMail {
  return {
    to,
    subject: `${inviter} shared a health record with you on carevault`,
    text: [
      'Hello,',
      '',
      `${inviter} invites you to ${recordName}'s health record on carevault, with ${accessText(level, until?.toISOString())} access.`,
      'Open this link to sign in (or create an account) and accept or decline:',
      link,
      '',
      `The link works once, for ${INVITATION_DAYS} days. If you do not know ${inviter}, you can ignore this email.`,
    ].join('\r\n'),
  };
}

export const SHARING_WORDS: AuditWords = {
  'sharing.invited': (event, { person }) =>
    `${person} invited ${detailText(event.details.email, 'someone')} to share this record: ${accessText(detailText(event.details.access, ''), event.details.until)}`,
  'sharing.accepted': (event, { person }) =>
    `${detailText(event.details.inviter_name, 'Someone')} shared this record with ${person}: ${accessText(detailText(event.details.access, ''), event.details.until)}`,
  'sharing.declined': (_event, { person }) => `${person} declined the invitation to share this record`,
  'sharing.withdrawn': (event, { person }) => `${person} withdrew the invitation for ${detailText(event.details.email, 'someone')}`,
  'sharing.changed': (event, { person }) =>
    `${person} changed ${detailText(event.details.other_name, 'someone')}'s access to ${levelText(detailText(event.details.access, ''))}`,
  'sharing.stopped': (event, { person }) => `${person} stopped sharing this record with ${detailText(event.details.other_name, 'someone')}`,
  'sharing.left': (_event, { person }) => `${person} left this record, which had been shared with them`,
  'sharing.expired': (event) =>
    `${detailText(event.details.other_name, 'Someone')}'s access to this record (${levelText(detailText(event.details.access, ''))}) expired`,
};
