/**
 * Sharing a record with people: every person↔record link (`custodianships`) carries an access
 * level — `custodian` (opened it, or looks after it), `full`, `change` or `view` — with who shared
 * it and until when (`expires_at`: the link stops counting the moment it passes, before any sweep
 * removes it). `share_invitations` are the invitations mailed to an email address: the token kept
 * only as its SHA-256, the level and expiry offered, the link's own 7-day life, and what became of
 * it (pending, accepted, declined, withdrawn), changed once by a conditional update. Each person
 * who holds a record authorizes apps on their own: one live authorization per app, record and
 * person (the owner's and a sharer's of the same app are two, and end apart).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('custodianships', (t) => {
    t.text('access').notNullable().defaultTo('custodian');
    t.uuid('shared_by').references('id').inTable('people').onDelete('SET NULL');
    t.timestamp('expires_at', { useTz: true });
    t.index(['expires_at']);
  });
  await knex.raw(`alter table custodianships add constraint custodianships_access check (access in ('custodian', 'full', 'change', 'view'))`);
  await knex.schema.createTable('share_invitations', (t) => {
    t.uuid('id').primary();
    t.uuid('record_id').notNullable().references('id').inTable('records').onDelete('CASCADE');
    t.uuid('invited_by').notNullable().references('id').inTable('people').onDelete('CASCADE');
    t.text('email').notNullable();
    t.text('access').notNullable();
    t.timestamp('access_expires_at', { useTz: true });
    t.text('token_hash').notNullable().unique();
    t.text('status').notNullable().defaultTo('pending');
    t.uuid('answered_by').references('id').inTable('people').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('link_expires_at', { useTz: true }).notNullable();
    t.timestamp('answered_at', { useTz: true });
    t.index(['record_id', 'status']);
  });
  await knex.raw(`alter table share_invitations add constraint share_invitations_access check (access in ('full', 'change', 'view'))`);
  await knex.raw(`alter table share_invitations add constraint share_invitations_status check (status in ('pending', 'accepted', 'declined', 'withdrawn'))`);
  await knex.raw('drop index authorizations_live');
  await knex.raw('create unique index authorizations_live on authorizations (client_id, record_id, person_id) where revoked_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index authorizations_live');
  await knex.raw('create unique index authorizations_live on authorizations (client_id, record_id) where revoked_at is null');
  await knex.schema.dropTable('share_invitations');
  await knex.raw('alter table custodianships drop constraint custodianships_access');
  await knex.schema.alterTable('custodianships', (t) => {
    t.dropIndex(['expires_at']);
    t.dropColumn('expires_at');
    t.dropColumn('shared_by');
    t.dropColumn('access');
  });
}
