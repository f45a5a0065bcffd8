/**
 * SQL for Direct messaging: records' addresses, the messages in each inbox and their
 * attachments (bytea, in parts). The only file with SQL for these tables. Every row hangs on its
 * record by a cascading foreign key, so a record erased takes its messages, Sent list and address along.
 */
import type { Database } from '../db';

export type MessageRow = {
  id: string;
  record_id: string;
  sender_kind: 'app' | 'person';
  sender_client_id: string | null;
  sender_record_id: string | null;
  sender_name: string;
  sender_address: string | null;
  subject: string;
  body: string;
  via: 'api' | 'smtp' | 'inbox';
  size_bytes: number;
  received_at: Date;
  read_at: Date | null;
  /** Deleted and kept until `purge_after`, so it can be brought back (both null otherwise). */
  deleted_at: Date | null;
  purge_after: Date | null;
};

export type NewMessage = Omit<MessageRow, 'received_at' | 'read_at' | 'deleted_at' | 'purge_after'>;

/** One message a record sent, as its Sent list shows it. */
export type SentRow = {
  id: string;
  record_id: string;
  message_id: string | null;
  to_address: string;
  subject: string;
  attachment_count: number;
  sent_at: Date;
};

export type InboxRow = Omit<MessageRow, 'body' | 'deleted_at' | 'purge_after'> & { attachment_count: number };

export type AttachmentRow = {
  id: string;
  message_id: string;
  position: number;
  filename: string;
  content_type: string;
  size_bytes: number;
  filed_resource_id: string | null;
};

export type NewAttachment = Omit<AttachmentRow, 'filed_resource_id'> & { content: Buffer };

const INBOX_COLUMNS = [
  'm.id',
  'm.record_id',
  'm.sender_kind',
  'm.sender_client_id',
  'm.sender_record_id',
  'm.sender_name',
  'm.sender_address',
  'm.subject',
  'm.via',
  'm.size_bytes',
  'm.received_at',
  'm.read_at',
];

/** The size of the parts an attachment's bytes are kept in. */
const PART_BYTES = 1024 * 1024;

const ATTACHMENT_COLUMNS = ['id', 'message_id', 'position', 'filename', 'content_type', 'size_bytes', 'filed_resource_id'];

export function createDirectStore(db: Database) {
  return {
    async addressesOf(recordIds: readonly string[]): Promise<{ record_id: string; local_part: string }[]> {
      if (recordIds.length === 0) return [];
      return db.table('direct_addresses').whereIn('record_id', recordIds).select('record_id', 'local_part');
    },

    /** Local parts that begin with `prefix` (the candidates already taken for a name). */
    async localPartsStartingWith(prefix: string): Promise<string[]> {
      // Local parts hold only [a-z0-9.], so the prefix needs no LIKE escaping.
      const rows = await db.table('direct_addresses').where('local_part', 'like', `${prefix}%`).select('local_part');
      return rows.map((row: { local_part: string }) => row.local_part);
    },

    /**
     * Gives `recordId` the address `localPart` unless the record already has one or the local part
     * is taken (then nothing happens and false is returned): racing callers converge.
     */
    async insertAddress(recordId: string, localPart: string): Promise<boolean> {
      const { rows } = (await db.raw('insert into direct_addresses (record_id, local_part) values (?, ?) on conflict do nothing returning record_id', [
        recordId,
        localPart,
      ])) as { rows: unknown[] };
      return rows.length === 1;
    },

    async recordOfLocalPart(localPart: string): Promise<string | undefined> {
      const row = await db.table('direct_addresses').where({ local_part: localPart }).first('record_id');
      return row?.record_id as string | undefined;
    },

    async insertMessage(message: NewMessage): Promise<void> {
      await db.table('direct_messages').insert(message);
    },

    /** Attachments with their bytes in parts (see the migration for why); call inside a transaction. */
    async insertAttachments(attachments: readonly NewAttachment[]): Promise<void> {
      for (const { content, ...attachment } of attachments) {
        await db.table('direct_attachments').insert(attachment);
        for (let offset = 0, seq = 0; offset < content.length || seq === 0; offset += PART_BYTES, seq += 1) {
          await db.table('direct_attachment_parts').insert({ attachment_id: attachment.id, seq, data: content.subarray(offset, offset + PART_BYTES) });
        }
      }
    },

    /** The inbox of a record: unread first, then newest first, with how many attachments each has. */
    async inbox(recordId: string, limit: number): Promise<InboxRow[]> {
      const rows = await db
        .table('direct_messages as m')
        .where('m.record_id', recordId)
        .whereNull('m.deleted_at')
        .select(...INBOX_COLUMNS, db.raw('(select count(*)::int from direct_attachments a where a.message_id = m.id) as attachment_count'))
        .orderByRaw('(m.read_at is null) desc, m.received_at desc, m.id')
        .limit(limit);
      return rows as InboxRow[];
    },

    /** Unread messages per record. */
    async unreadCounts(recordIds: readonly string[]): Promise<Map<string, number>> {
      if (recordIds.length === 0) return new Map();
      const rows = (await db
        .table('direct_messages')
        .whereIn('record_id', recordIds)
        .whereNull('read_at')
        .whereNull('deleted_at')
        .groupBy('record_id')
        .select('record_id', db.raw('count(*)::int as unread'))) as { record_id: string; unread: number }[];
      return new Map(rows.map((row) => [row.record_id, row.unread]));
    },

    /** A message of the inbox, unless it was deleted. */
    async message(recordId: string, messageId: string): Promise<MessageRow | undefined> {
      return db.table('direct_messages').where({ id: messageId, record_id: recordId }).whereNull('deleted_at').first();
    },

    /** A message of the inbox that was deleted and is still kept. */
    async deletedMessage(recordId: string, messageId: string): Promise<MessageRow | undefined> {
      return db.table('direct_messages').where({ id: messageId, record_id: recordId }).whereNotNull('deleted_at').first();
    },

    async attachmentsOf(messageId: string): Promise<AttachmentRow[]> {
      return db.table('direct_attachments').where({ message_id: messageId }).orderBy('position').select(ATTACHMENT_COLUMNS);
    },

    /** One attachment with its bytes, if it belongs to that message in that record's inbox. */
    async attachment(recordId: string, messageId: string, attachmentId: string): Promise<(AttachmentRow & { content: Buffer }) | undefined> {
      const row = (await db
        .table('direct_attachments as a')
        .join('direct_messages as m', 'm.id', 'a.message_id')
        .where({ 'a.id': attachmentId, 'a.message_id': messageId, 'm.record_id': recordId })
        .whereNull('m.deleted_at')
        .first(...ATTACHMENT_COLUMNS.map((column) => `a.${column}`))) as AttachmentRow | undefined;
      if (!row) return undefined;
      const parts = (await db.table('direct_attachment_parts').where({ attachment_id: row.id }).orderBy('seq').select('data')) as { data: Buffer }[];
      return { ...row, content: Buffer.concat(parts.map((part) => part.data)) };
    },

    async markRead(messageId: string): Promise<void> {
      await db.table('direct_messages').where({ id: messageId }).whereNull('read_at').update({ read_at: db.now() });
    },

    async setFiled(attachmentId: string, resourceId: string): Promise<void> {
      await db.table('direct_attachments').where({ id: attachmentId }).update({ filed_resource_id: resourceId });
    },

    /** Hides a message from its inbox until `purgeAfter`; `false` when it was not there (or deleted already). */
    async softDelete(recordId: string, messageId: string, now: Date, purgeAfter: Date): Promise<boolean> {
      const changed = await db
        .table('direct_messages')
        .where({ id: messageId, record_id: recordId })
        .whereNull('deleted_at')
        .update({ deleted_at: now, purge_after: purgeAfter });
      return changed === 1;
    },

    /** Brings a deleted message back while it is kept; `false` when it is not deleted or its time is over. */
    async restore(recordId: string, messageId: string, now: Date): Promise<boolean> {
      const changed = await db
        .table('direct_messages')
        .where({ id: messageId, record_id: recordId })
        .whereNotNull('deleted_at')
        .andWhere('purge_after', '>', now)
        .update({ deleted_at: null, purge_after: null });
      return changed === 1;
    },

    /** Removes deleted messages past their time, with their attachments (the rows cascade); returns how many. */
    async purgeDeleted(now: Date): Promise<number> {
      return db.table('direct_messages').whereNotNull('purge_after').andWhere('purge_after', '<=', now).delete();
    },

    async insertSent(row: Omit<SentRow, 'sent_at'>): Promise<void> {
      await db.table('direct_sent').insert(row);
    },

    /** What a record sent, newest first. */
    async sent(recordId: string, limit: number): Promise<SentRow[]> {
      return db
        .table('direct_sent')
        .where({ record_id: recordId })
        .orderBy([{ column: 'sent_at', order: 'desc' }, { column: 'id' }])
        .limit(limit)
        .select('*');
    },
  };
}

export type DirectStore = ReturnType<typeof createDirectStore>;
