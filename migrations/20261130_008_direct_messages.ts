/**
 * Direct messaging: each record's Direct address, the messages in each record's inbox,
 * and their attachments. A message and its attachments are written in one transaction, so a
 * message is there whole or not at all.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One address per record, given once and never changed (not even when the Patient is renamed);
  // the unique local part lets racing creations converge on one winner.
  await knex.schema.createTable('direct_addresses', (t) => {
    t.uuid('record_id').primary().references('records.id').onDelete('CASCADE');
    t.text('local_part').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index direct_addresses_local_part on direct_addresses (local_part)');

  await knex.schema.createTable('direct_messages', (t) => {
    t.uuid('id').primary();
    // The inbox the message is in.
    t.uuid('record_id').notNullable().references('records.id').onDelete('CASCADE');
    // An app (API or SMTP) or a person writing from one of their records' inboxes.
    t.text('sender_kind').notNullable();
    t.text('sender_client_id');
    t.uuid('sender_record_id').references('records.id').onDelete('SET NULL');
    t.text('sender_name').notNullable();
    t.text('sender_address');
    t.text('subject').notNullable();
    t.text('body').notNullable();
    t.text('via').notNullable();
    t.integer('size_bytes').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('read_at', { useTz: true });
    t.index(['record_id', 'received_at'], 'direct_messages_inbox');
  });
  await knex.raw(`alter table direct_messages add constraint direct_messages_sender_kind check (sender_kind in ('app', 'person'))`);
  await knex.raw(`alter table direct_messages add constraint direct_messages_via check (via in ('api', 'smtp', 'inbox'))`);

  await knex.schema.createTable('direct_attachments', (t) => {
    t.uuid('id').primary();
    t.uuid('message_id').notNullable().references('direct_messages.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.text('filename').notNullable();
    t.text('content_type').notNullable();
    t.integer('size_bytes').notNullable();
    // The DocumentReference it became when the person added it to the record.
    t.text('filed_resource_id');
    t.unique(['message_id', 'position']);
  });

  // An attachment's bytes, in parts of at most 1 MiB: no statement carries a whole 25 MB file (on
  // the embedded database one 25 MB statement takes ~20 s to cross its socket; 1 MiB parts, <1 s).
  await knex.schema.createTable('direct_attachment_parts', (t) => {
    t.uuid('attachment_id').notNullable().references('direct_attachments.id').onDelete('CASCADE');
    t.integer('seq').notNullable();
    t.binary('data').notNullable();
    t.primary(['attachment_id', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['direct_attachment_parts', 'direct_attachments', 'direct_messages', 'direct_addresses']) await knex.schema.dropTableIfExists(table);
}
