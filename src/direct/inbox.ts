/**
 * Reading an inbox: the list (unread first), a message and its attachments, **Add to record** (an
 * attachment filed as a DocumentReference through the record repository, once), deleting with
 * **Undo** for a while (the message is hidden at once and removed by the sweep after UNDO_MINUTES),
 * and what the record sent — each change audited in its transaction. The caller has checked that
 * the person is a custodian of the record. Knows nothing of HTTP.
 */
import { personActor, type Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { DomainError, NotFound } from '../errors';
import type { RecordRepositories } from '../fhir/repository';
import { isUuid } from '../ids';
import { kindOfStored, storedNameOf, type AttachmentKind } from './attachments';
import { documentReferenceOf } from './filing';
import { shownSender } from './senders';
import type { AttachmentRow, DirectStore, InboxRow, MessageRow, SentRow } from './store';

/** How long a deleted message can be brought back. */
export const UNDO_MINUTES = 10;

/** Undo after the message's time ran out. */
export class TooLateToUndo extends DomainError {
  constructor(subject: string | undefined) {
    const what = subject === undefined ? 'the message' : `'${subject || '(no subject)'}'`;
    super('gone', `It is too late to undo: ${what} was deleted for good ${UNDO_MINUTES} minutes after you deleted it.`, 'too_late');
  }
}

/** A deleted message as the inbox tells of it: its words, and until when Undo works (none once past). */
export type Deleted = { id: string; subject: string; senderName: string; undoUntil: Date | undefined };

export type InboxMessage = InboxRow;

export type OpenedMessage = { message: MessageRow; attachments: AttachmentRow[] };

type Deps = { db: Database; store: DirectStore; audit: AuditLog; repositories: RecordRepositories; clock?: () => Date };

/** How many messages an inbox page lists. */
const INBOX_PAGE = 200;

/** An attachment as people see, download and file it: its name by today's rule, whenever it was kept. */
function named<T extends Pick<AttachmentRow, 'filename' | 'content_type'>>(attachment: T): T {
  return { ...attachment, filename: storedNameOf(attachment.filename, attachment.content_type) };
}

export function createInbox({ db, store, audit, repositories, clock = () => new Date() }: Deps) {
  /** The message of `messageId` in the inbox of `recordId`. @throws NotFound */
  async function messageIn(recordId: string, messageId: string): Promise<MessageRow> {
    const message = isUuid(messageId) ? await store.message(recordId, messageId) : undefined;
    if (!message) throw new NotFound('There is no such message in this inbox.');
    return message;
  }

  return {
    /** The inbox of a record: unread first, newest first. */
    inbox(recordId: string): Promise<InboxMessage[]> {
      return store.inbox(recordId, INBOX_PAGE);
    },

    unreadCounts(recordIds: readonly string[]): Promise<Map<string, number>> {
      return store.unreadCounts(recordIds);
    },

    /** A message and its attachments (not their bytes); marks it read. @throws NotFound */
    async open(recordId: string, messageId: string): Promise<OpenedMessage> {
      const message = await messageIn(recordId, messageId);
      if (!message.read_at) await store.markRead(message.id);
      return { message, attachments: (await store.attachmentsOf(message.id)).map(named) };
    },

    /** An attachment with its bytes. @throws NotFound */
    async attachment(recordId: string, messageId: string, attachmentId: string) {
      const attachment = isUuid(messageId) && isUuid(attachmentId) ? await store.attachment(recordId, messageId, attachmentId) : undefined;
      if (!attachment) throw new NotFound('There is no such attachment in this inbox.');
      return named(attachment);
    },

    /**
     * Adds an attachment to the record as a DocumentReference, once: a second "Add to record"
     * (or a racing one) finds it filed and says so.
     * @throws NotFound, InvalidResource (from the repository).
     */
    async file(
      person: Person,
      recordId: string,
      messageId: string,
      attachmentId: string,
    ): Promise<{ resourceId: string; already: boolean; kind: AttachmentKind | undefined }> {
      if (!isUuid(messageId) || !isUuid(attachmentId)) throw new NotFound('There is no such attachment in this inbox.');
      return db.transaction(async () => {
        await db.lock(`direct-attachment:${attachmentId}`);
        const message = await messageIn(recordId, messageId);
        const stored = await store.attachment(recordId, messageId, attachmentId);
        if (!stored) throw new NotFound('There is no such attachment in this inbox.');
        const attachment = named(stored);
        const kind = kindOfStored(attachment.content_type);
        if (attachment.filed_resource_id) return { resourceId: attachment.filed_resource_id, already: true, kind };
        const repository = repositories.forRecord(recordId, personActor(person), { audited: false });
        const created = await repository.create(
          'DocumentReference',
          documentReferenceOf(
            { filename: attachment.filename, contentType: attachment.content_type, content: attachment.content },
            { sender: shownSender(message), subject: message.subject, receivedAt: message.received_at, filedAt: clock() },
          ),
        );
        const resourceId = String(created.content.id);
        await store.setFiled(attachment.id, resourceId);
        await audit.append({
          recordId,
          kind: 'direct.filed',
          personId: person.id,
          details: {
            person_name: person.name,
            message_id: message.id,
            filename: attachment.filename,
            subject: message.subject,
            resource: `DocumentReference/${resourceId}`,
          },
        });
        return { resourceId, already: false, kind };
      });
    },

    /**
     * Deletes a message: gone from the inbox at once, kept UNDO_MINUTES for Undo, then removed with
     * its attachments by the sweep (what was added to the record stays). @throws NotFound
     */
    async remove(person: Person, recordId: string, messageId: string): Promise<void> {
      await db.transaction(async () => {
        const message = await messageIn(recordId, messageId);
        const now = clock();
        const until = new Date(now.getTime() + UNDO_MINUTES * 60_000);
        if (!(await store.softDelete(recordId, message.id, now, until))) throw new NotFound('There is no such message in this inbox.');
        await audit.append({
          recordId,
          kind: 'direct.deleted',
          personId: person.id,
          details: { person_name: person.name, message_id: message.id, subject: message.subject, sender_name: message.sender_name },
        });
      });
    },

    /** A deleted message still kept, for the inbox's "Deleted … Undo"; `undefined` once it is back or gone. */
    async deleted(recordId: string, messageId: string): Promise<Deleted | undefined> {
      const message = isUuid(messageId) ? await store.deletedMessage(recordId, messageId) : undefined;
      if (!message?.purge_after) return undefined;
      const open = message.purge_after.getTime() > clock().getTime();
      return { id: message.id, subject: message.subject, senderName: shownSender(message).name, undoUntil: open ? message.purge_after : undefined };
    },

    /** Brings a deleted message back into the inbox (once back, again is a no-op). @throws TooLateToUndo once its time ran out. */
    async restore(person: Person, recordId: string, messageId: string): Promise<{ subject: string }> {
      if (!isUuid(messageId)) throw new TooLateToUndo(undefined);
      return db.transaction(async () => {
        const message = await store.deletedMessage(recordId, messageId);
        if (!message) {
          const back = await store.message(recordId, messageId);
          if (back) return { subject: back.subject };
          throw new TooLateToUndo(undefined);
        }
        if (!(await store.restore(recordId, messageId, clock()))) throw new TooLateToUndo(message.subject);
        await audit.append({
          recordId,
          kind: 'direct.restored',
          personId: person.id,
          details: { person_name: person.name, message_id: message.id, subject: message.subject, sender_name: message.sender_name },
        });
        return { subject: message.subject };
      });
    },

    /** The sweep: deleted messages past their time, removed with their attachments. */
    purgeDeleted(): Promise<number> {
      return store.purgeDeleted(clock());
    },

    /** What the record sent from its inbox, newest first. */
    sent(recordId: string): Promise<SentRow[]> {
      return store.sent(recordId, INBOX_PAGE);
    },
  };
}
