/**
 * `registration_mail`: the mail each registration owes, written in the registration's own
 * transaction and sent after the response (accounts/service.ts), so a slow or failing mail server
 * neither holds nor tells anything to the person registering, and a crash loses no mail: a row
 * stays until its mail went out. `kind` is `registered` (the new person's verification link) or
 * `email_taken` (the owner of an email someone tried to register again is told). `not_before` is
 * when the row may be taken next (a sender claims it for a while), `attempts` how often it was taken.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('registration_mail', (t) => {
    t.uuid('id').primary();
    t.uuid('person_id').notNullable().references('id').inTable('people').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('not_before', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['not_before']);
  });
  await knex.raw(`alter table registration_mail add constraint registration_mail_kind check (kind in ('registered', 'email_taken'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('registration_mail');
}
