/**
 * Direct messages that can be undeleted, and what each record sent.
 * - `deleted_at`, `purge_after` on `direct_messages`: Delete hides a message from its inbox at once
 *   and keeps it until `purge_after`, so **Undo** can bring it back; the feature's sweep removes it
 *   (with its attachments) after that time.
 * - `direct_sent`: one row per message a person sent from a record's inbox (to, subject, when), the
 *   record's **Sent** list (the address only: the sender learns no name the recipient gave their record). It is the sender's own account of what went out, so it stays when the
 *   recipient deletes their copy (`message_id` is then emptied).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('direct_messages', (t) => {
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('purge_after', { useTz: true });
  });
  await knex.raw('create index direct_messages_purge on direct_messages (purge_after) where purge_after is not null');
  await knex.raw(`alter table direct_messages add constraint direct_messages_deleted check ((deleted_at is null) = (purge_after is null))`);

  await knex.schema.createTable('direct_sent', (t) => {
    t.uuid('id').primary();
    t.uuid('record_id').notNullable().references('records.id').onDelete('CASCADE');
    t.uuid('message_id').references('direct_messages.id').onDelete('SET NULL');
    t.text('to_address').notNullable();
    t.text('subject').notNullable();
    t.integer('attachment_count').notNullable();
    t.timestamp('sent_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['record_id', 'sent_at'], 'direct_sent_by_record');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('direct_sent');
  await knex.raw('alter table direct_messages drop constraint if exists direct_messages_deleted');
  await knex.raw('drop index if exists direct_messages_purge');
  await knex.schema.alterTable('direct_messages', (t) => {
    t.dropColumn('deleted_at');
    t.dropColumn('purge_after');
  });
}
