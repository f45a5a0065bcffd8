/**
 * The account page's signed-in devices and email changes.
 * - `account_devices`: for each sign-in session (oidc-provider's `Session` uid), the person, a short
 *   summary of the browser it was seen from (never the whole user-agent string) and when it was
 *   last used; the session itself stays oidc-provider's, and a device whose session ended is not shown.
 * - `account_links.purpose` also takes `email`: a link mailed to a new address that, followed, makes
 *   it the person's email (confirmed by that very link).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('account_devices', (t) => {
    t.text('session_uid').primary();
    t.uuid('person_id').notNullable().references('id').inTable('people').onDelete('CASCADE');
    t.text('browser').notNullable();
    t.timestamp('last_used_at', { useTz: true }).notNullable();
    t.index(['person_id']);
    t.index(['last_used_at']);
  });
  await knex.raw('alter table account_links drop constraint account_links_purpose');
  await knex.raw(`alter table account_links add constraint account_links_purpose check (purpose in ('verify', 'reset', 'email'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`delete from account_links where purpose = 'email'`);
  await knex.raw('alter table account_links drop constraint account_links_purpose');
  await knex.raw(`alter table account_links add constraint account_links_purpose check (purpose in ('verify', 'reset'))`);
  await knex.schema.dropTable('account_devices');
}
