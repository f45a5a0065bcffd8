/**
 * Authorizations (an app's approved access to one record, bound to an oidc-provider grant) and
 * the append-only audit log kept per record.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('authorizations', (t) => {
    t.uuid('id').primary();
    // The oidc-provider grant carrying it; null while an online authorization waits for the person
    // to sign in again (signing out ends the grant, not the authorization).
    t.text('grant_id').unique();
    t.text('client_id').notNullable();
    t.uuid('person_id').notNullable().references('people.id').onDelete('CASCADE');
    t.uuid('record_id').notNullable().references('records.id').onDelete('CASCADE');
    // Everything granted (identity scopes and rules), and the optional rules declined, space-delimited.
    t.text('scope').notNullable();
    t.text('declined').notNullable().defaultTo('');
    t.text('access').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.text('revoked_by');
  });
  await knex.raw(`alter table authorizations add constraint authorizations_access check (access in ('offline', 'online', 'none'))`);
  // One live authorization per app and record.
  await knex.raw('create unique index authorizations_live on authorizations (client_id, record_id) where revoked_at is null');
  await knex.raw('create index authorizations_record on authorizations (record_id) where revoked_at is null');

  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('record_id').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('kind').notNullable();
    t.text('client_id');
    t.uuid('person_id');
    t.jsonb('details').notNullable().defaultTo('{}');
    t.index(['record_id', 'occurred_at']);
  });
  // Append-only: the log cannot be edited or trimmed by the application.
  await knex.raw(`
    create function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only';
    end $$`);
  await knex.raw(`
    create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_append_only()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists audit_events_append_only on audit_events');
  await knex.raw('drop function if exists audit_events_append_only()');
  await knex.schema.dropTableIfExists('audit_events');
  await knex.schema.dropTableIfExists('authorizations');
}
