/**
 * Who a message is from, as the inbox shows it, so that a person can tell a registered app from
 * another carevault member, and both from what a mail merely claims:
 * - an app signed in with its own credentials: its registered name, marked as a registered app;
 *   over SMTP the envelope's sender (MAIL FROM) is only what the app reported, and says so;
 * - a member wrote from one of their records: the record's name (anyone may give a record any
 *   name, a clinic's too), marked as a carevault member, with the Direct address carevault gave it.
 * Pure: the views render it (views/direct/sender.ejs).
 */
import type { MessageRow } from './store';

export type ShownSender =
  { kind: 'app'; name: string; label: string; reported: string | undefined } | { kind: 'member'; name: string; label: string; address: string | undefined };

const APP_LABEL = 'Registered app';
const MEMBER_LABEL = 'a carevault member';

export function shownSender(message: Pick<MessageRow, 'sender_kind' | 'sender_name' | 'sender_address'>): ShownSender {
  const address = message.sender_address ?? undefined;
  return message.sender_kind === 'app'
    ? { kind: 'app', name: message.sender_name, label: APP_LABEL, reported: address }
    : { kind: 'member', name: message.sender_name, label: MEMBER_LABEL, address };
}

/** The sender in a sentence ("Riverside Clinic"; "Sam Lee, a carevault member (sam.lee@…)"). */
export function senderWords(sender: ShownSender): string {
  if (sender.kind === 'app') return sender.name;
  return `${sender.name}, ${sender.label}${sender.address ? ` (${sender.address})` : ''}`;
}
