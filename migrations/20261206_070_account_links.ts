/**
 * The person's account: a verified email, and the one-time links mailed to people.
 * - `people.email_verified_at`: when the person followed a verification link sent to the email the
 *   account has now (OIDC Core §5.1 `email_verified` is true only while it is set).
 * - `account_links`: each link mailed (to confirm an email, or to reset a password), kept as the
 *   SHA-256 of its token only, with its expiry and the moment it was used (a link works once).
 *   A recovery asked for an email no account uses writes the same row without a person: it can
 *   never be used, and the work on both paths stays the same.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('people', (t) => {
    t.timestamp('email_verified_at', { useTz: true });
  });
  await knex.schema.createTable('account_links', (t) => {
    t.uuid('id').primary();
    t.uuid('person_id').references('id').inTable('people').onDelete('CASCADE');
    t.text('purpose').notNullable();
    t.text('token_hash').notNullable().unique();
    t.text('email').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.index(['person_id', 'purpose']);
    t.index(['expires_at']);
  });
  await knex.raw(`alter table account_links add constraint account_links_purpose check (purpose in ('verify', 'reset'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('account_links');
  await knex.schema.alterTable('people', (t) => {
    t.dropColumn('email_verified_at');
  });
}
