/**
 * Two-step sign-in (RFC 6238 authenticator apps and one-time recovery codes).
 * - `two_step_apps`: one authenticator app per person; its secret sealed (AES-256-GCM) under a key
 *   the server holds, never in clear; `confirmed_at` null until the person typed a code from it;
 *   `last_step` the newest TOTP time step accepted, so a code is accepted once.
 * - `recovery_codes`: ten per person, each kept as the SHA-256 of its value, `used_at` once used.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('two_step_apps', (t) => {
    t.uuid('person_id').primary().references('id').inTable('people').onDelete('CASCADE');
    t.text('secret_sealed').notNullable();
    t.timestamp('confirmed_at', { useTz: true });
    t.bigInteger('last_step');
    t.timestamp('created_at', { useTz: true }).notNullable();
  });
  await knex.schema.createTable('recovery_codes', (t) => {
    t.text('code_hash').primary();
    t.uuid('person_id').notNullable().references('id').inTable('people').onDelete('CASCADE');
    t.timestamp('used_at', { useTz: true });
    t.index(['person_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('recovery_codes');
  await knex.schema.dropTable('two_step_apps');
}
