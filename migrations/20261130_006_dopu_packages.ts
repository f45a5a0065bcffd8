/**
 * DOPU packages: what an app dropped off for a person it met. The contents are
 * sealed under a key derived from the secret answer (AES-256-GCM, argon2id with `salt`), so the
 * table holds no readable health data; the answer itself is never stored, and the pickup code only
 * as its SHA-256. `sealed` is emptied once a package is picked up or ends.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('dopu_packages', (t) => {
    t.uuid('id').primary();
    t.text('client_id').notNullable();
    t.text('external_id');
    // Shown to whoever holds the code, before the answer: plain text, never health data.
    t.text('friendly_name').notNullable();
    t.text('question').notNullable();
    t.text('code_hash').notNullable().unique();
    t.binary('salt').notNullable();
    // iv ‖ ciphertext ‖ tag of the resources as JSON; null once the contents are deleted.
    t.binary('sealed');
    t.integer('resource_count').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.integer('wrong_answers').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    // When the status last changed (the app's `since`), written from the service's clock.
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.timestamp('picked_up_at', { useTz: true });
    t.index(['client_id', 'updated_at', 'id'], 'dopu_packages_client');
    t.index(['status', 'expires_at'], 'dopu_packages_due');
  });
  await knex.raw(
    `alter table dopu_packages add constraint dopu_packages_status check (status in ('pending', 'picked_up', 'declined', 'expired', 'locked', 'withdrawn'))`,
  );
  // Only a pending package keeps its contents.
  await knex.raw(`alter table dopu_packages add constraint dopu_packages_sealed check (sealed is null or status = 'pending')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('dopu_packages');
}
