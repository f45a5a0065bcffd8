/**
 * One owner for each fact: a record's name and birth date are its Patient's (no copies on
 * `records`); an app's "last used" is read from the audit log (no write on every request); an
 * authorization that lasts only while the person is signed in names its session.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('records', (t) => {
    t.dropColumn('name');
    t.dropColumn('birth_date');
  });
  await knex.schema.alterTable('authorizations', (t) => {
    t.dropColumn('last_used_at');
    t.text('session_uid');
    t.index(['session_uid'], 'authorizations_session');
  });
  // "When did this app last use this record": the newest event of one app in one record.
  await knex.raw('create index audit_events_record_client on audit_events (record_id, client_id, occurred_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists audit_events_record_client');
  await knex.schema.alterTable('authorizations', (t) => {
    t.dropIndex(['session_uid'], 'authorizations_session');
    t.dropColumn('session_uid');
    t.timestamp('last_used_at', { useTz: true });
  });
  await knex.schema.alterTable('records', (t) => {
    t.text('name').notNullable().defaultTo('');
    t.date('birth_date');
  });
}
