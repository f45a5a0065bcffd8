/**
 * Delivering Direct messages: a message reaches a record's inbox from
 * an app (the API or SMTP) or from a person writing from one of their records' inboxes. Knows
 * nothing of HTTP or SMTP.
 *
 * A message lands whole or not at all: it is checked completely first (types, counts, 25 MB), then
 * the message, its attachments and the audit events are written in one transaction.
 */
import { randomUUID } from 'node:crypto';
import type { Person } from '../accounts/person';
import type { AppNames } from '../apps/names';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import type { RecordEvents } from '../record-events';
import type { Limit } from '../security/limiters';
import type { AddressBook, NamedRecord } from './address-book';
import { checkAttachments, type CheckedAttachment, type IncomingAttachment } from './attachments';
import { RefusedMessage, UnknownAddress } from './errors';
import { MAX_TEXT_CHARS } from './limits';
import type { DirectStore, MessageRow } from './store';

/** An app sending (its client id; over SMTP also the envelope's sender address). */
export type AppSender = { kind: 'app'; clientId: string; address?: string | undefined };

/** A person writing from the inbox of `record`, one of the records they hold. */
export type PersonSender = { kind: 'person'; person: Person; record: NamedRecord };

export type Sender = AppSender | PersonSender;

export type Outgoing = { subject: string; text: string; attachments: readonly IncomingAttachment[] };

type Checked = { subject: string; text: string; attachments: CheckedAttachment[]; size: number };

type Deps = {
  db: Database;
  store: DirectStore;
  addresses: AddressBook;
  audit: AuditLog;
  appNames: AppNames;
  /** Addresses are guessable (sam.lee, sam.lee2…): sending to unknown ones is counted per sender. */
  unknownRecipients: Limit;
  /** Told of each delivery once it committed (a person may be mailed that a message arrived). */
  recordEvents: Pick<RecordEvents, 'tell'>;
};

export function createDelivery({ db, store, addresses, audit, appNames, unknownRecipients, recordEvents }: Deps) {
  const senderKey = (sender: Sender) => (sender.kind === 'app' ? `app:${sender.clientId}` : `person:${sender.person.id}`);

  /**
   * Checks everything about a message before anything is written.
   * @throws RefusedMessage, RefusedAttachment, MessageTooLarge.
   */
  function check(outgoing: Outgoing): Checked {
    if (outgoing.text.length > MAX_TEXT_CHARS) {
      throw new RefusedMessage(`The message text can be at most ${MAX_TEXT_CHARS.toLocaleString('en')} characters; attach longer documents instead.`);
    }
    const textBytes = Buffer.byteLength(outgoing.text);
    const attachments = checkAttachments(outgoing.attachments, textBytes);
    return { subject: outgoing.subject, text: outgoing.text, attachments, size: attachments.reduce((sum, a) => sum + a.content.length, textBytes) };
  }

  /**
   * The record of a Direct address; unknown ones count against the sender.
   * Never call inside a transaction (the limit uses its own connection).
   * @throws UnknownAddress, TooManyAttempts.
   */
  async function recipient(sender: Sender, address: string): Promise<string> {
    const key = senderKey(sender);
    const attempt = await unknownRecipients.take(key);
    const recordId = await addresses.recordOf(address);
    if (recordId) {
      await attempt.giveBack();
      return recordId;
    }
    await attempt.failed();
    throw new UnknownAddress(address.trim().slice(0, 254));
  }

  /** Writes one message into each recipient's inbox, with the audit events, in one transaction. */
  async function deliver(
    sender: Sender,
    recipients: readonly { recordId: string; address: string }[],
    message: Checked,
    via: MessageRow['via'],
  ): Promise<string[]> {
    const senderName = sender.kind === 'app' ? await appNames.name(sender.clientId) : sender.record.name;
    const senderAddress =
      sender.kind === 'app' ? (sender.address?.slice(0, 254) ?? null) : ((await addresses.addressesOf([sender.record])).get(sender.record.id) ?? null);
    const who = sender.kind === 'app' ? { clientId: sender.clientId } : { personId: sender.person.id };
    const count = message.attachments.length;
    const ids = await db.transaction(async () => {
      const ids: string[] = [];
      for (const { recordId, address } of recipients) {
        const id = randomUUID();
        await store.insertMessage({
          id,
          record_id: recordId,
          sender_kind: sender.kind,
          sender_client_id: sender.kind === 'app' ? sender.clientId : null,
          sender_record_id: sender.kind === 'person' ? sender.record.id : null,
          sender_name: senderName,
          sender_address: senderAddress,
          subject: message.subject,
          body: message.text,
          via,
          size_bytes: message.size,
        });
        await store.insertAttachments(
          message.attachments.map((attachment, position) => ({
            id: randomUUID(),
            message_id: id,
            position,
            filename: attachment.filename,
            content_type: attachment.contentType,
            size_bytes: attachment.content.length,
            content: attachment.content,
          })),
        );
        const details = { message_id: id, sender_name: senderName, sender_address: senderAddress, subject: message.subject, attachments: count, via };
        await audit.append({
          recordId,
          kind: 'direct.received',
          ...who,
          details: sender.kind === 'person' ? { ...details, person_name: sender.person.name } : details,
        });
        if (sender.kind === 'person') {
          await store.insertSent({
            id: randomUUID(),
            record_id: sender.record.id,
            message_id: id,
            to_address: address,
            subject: message.subject,
            attachment_count: count,
          });
          await audit.append({
            recordId: sender.record.id,
            kind: 'direct.sent',
            personId: sender.person.id,
            details: { message_id: id, person_name: sender.person.name, to: address, subject: message.subject, attachments: count },
          });
        }
        ids.push(id);
      }
      return ids;
    });
    // Only now, committed: whatever listeners do (a mail that fails, say) cannot lose the message.
    recordEvents.tell({ kind: 'direct.received', recordIds: recipients.map((item) => item.recordId) });
    return ids;
  }

  return {
    /**
     * An app's message to one address (the API).
     * @throws RefusedMessage, RefusedAttachment, MessageTooLarge, UnknownAddress, TooManyAttempts.
     */
    async sendFromApp(clientId: string, to: string, outgoing: Outgoing): Promise<string> {
      const sender: AppSender = { kind: 'app', clientId };
      const message = check(outgoing);
      const recordId = await recipient(sender, to);
      const [id] = await deliver(sender, [{ recordId, address: to }], message, 'api');
      return id as string;
    },

    /** A person's message from the inbox of one of their records, kept in that record's Sent list. Same refusals. */
    async sendFromInbox(sender: PersonSender, to: string, outgoing: Outgoing): Promise<string> {
      const message = check(outgoing);
      const recordId = await recipient(sender, to);
      const [id] = await deliver(sender, [{ recordId, address: to.trim().toLowerCase() }], message, 'inbox');
      return id as string;
    },

    /** An SMTP recipient, checked at RCPT TO. @throws UnknownAddress, TooManyAttempts */
    async checkRecipient(clientId: string, address: string): Promise<void> {
      await recipient({ kind: 'app', clientId }, address);
    },

    /**
     * Mail an app sent over SMTP to `to` (the envelope's recipients, accepted at RCPT TO): one
     * message in each inbox, all or none. Same refusals as the API.
     */
    async receiveMail(sender: AppSender, to: readonly string[], outgoing: Outgoing): Promise<string[]> {
      const message = check(outgoing);
      const recipients: { recordId: string; address: string }[] = [];
      for (const address of new Set(to.map((item) => item.trim().toLowerCase()))) {
        recipients.push({ recordId: await recipient(sender, address), address });
      }
      return deliver(sender, recipients, message, 'smtp');
    },
  };
}
