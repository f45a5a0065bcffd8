/**
 * Audit events about things that are not (yet) in a record: a package dropped off for someone, a
 * connect request waiting for its person. Such an event names its `subject` (`package:<id>`,
 * `connect:<id>`) and may have no record; once the thing reaches a record, events name both.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.text('subject');
    t.index(['subject', 'occurred_at'], 'audit_events_subject');
  });
  await knex.raw('alter table audit_events alter column record_id drop not null');
  await knex.raw('alter table audit_events add constraint audit_events_about check (record_id is not null or subject is not null)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table audit_events drop constraint if exists audit_events_about');
  await knex.raw('delete from audit_events where record_id is null');
  await knex.raw('alter table audit_events alter column record_id set not null');
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['subject', 'occurred_at'], 'audit_events_subject');
    t.dropColumn('subject');
  });
}
