/**
 * Passkeys (WebAuthn Level 3) as a way to sign in and as a second step.
 * - `passkeys`: each credential a person registered, named by them: its credential id (base64url,
 *   unique), its COSE public key (base64url; public, nothing to seal), the signature counter the
 *   authenticator last reported (clone detection, §6.1.1), whether it is a synced multi-device
 *   passkey (`backup_eligible`) — which decides `swk` or `hwk` in `amr` —, its transports, when it
 *   was added and last used.
 * - `passkey_challenges`: the challenge of every ceremony started, kept server-side so any instance
 *   may receive the answer; bound to what it is for (`purpose`, and the person or the sign-in it
 *   belongs to), deleted when used (once) and swept when it expires.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('passkeys', (t) => {
    t.uuid('id').primary();
    t.uuid('person_id').notNullable().references('id').inTable('people').onDelete('CASCADE');
    t.text('credential_id').notNullable().unique();
    t.text('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.boolean('backup_eligible').notNullable();
    t.text('transports').notNullable().defaultTo('');
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('last_used_at', { useTz: true });
    t.index(['person_id']);
  });
  await knex.schema.createTable('passkey_challenges', (t) => {
    t.text('challenge').primary();
    t.text('purpose').notNullable();
    t.text('bound_to').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('passkey_challenges');
  await knex.schema.dropTable('passkeys');
}
