/**
 * A record erased when its last custodian closes their account takes its audit events with it (the
 * right to erasure, GDPR Art. 17): the append-only trigger lets a delete through only for the one
 * record the current transaction names in `carevault.erasing_record` (audit/store.ts sets it,
 * local to that transaction). Every other update or delete is still refused.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and old.record_id is not null
         and coalesce(current_setting('carevault.erasing_record', true), '') = old.record_id::text then
        return old;
      end if;
      raise exception 'audit_events is append-only';
    end $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only';
    end $$`);
}
