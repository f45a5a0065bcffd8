/**
 * Foundation: oidc-provider's models, signing keys and secrets, people and their records,
 * FHIR resources, and rate-limit counters.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One table serves every oidc-provider model; the columns beside the payload are the ones the
  // adapter looks things up by (grant revocation, device user codes, interaction uids, sweeping).
  await knex.schema.createTable('oidc_models', (t) => {
    t.text('model').notNullable();
    t.text('id').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('user_code');
    t.text('uid');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.primary(['model', 'id']);
    t.index(['grant_id']);
    t.index(['uid']);
    t.index(['expires_at']);
  });
  await knex.raw('create unique index oidc_models_user_code on oidc_models (model, user_code) where user_code is not null');

  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('alg').notNullable();
    // A JWE (compact) when KEY_ENCRYPTION_SECRET is set, else the JWK as JSON text.
    t.text('private_jwk').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // A rotated-in key is published before it signs, so every instance can verify its tokens.
    t.timestamp('active_from', { useTz: true }).notNullable();
    t.timestamp('retired_at', { useTz: true });
  });

  await knex.schema.createTable('server_secrets', (t) => {
    t.text('name').primary();
    t.text('value').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('people', (t) => {
    t.uuid('id').primary();
    t.text('email').notNullable();
    t.text('name').notNullable();
    t.text('password_hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index people_email on people (lower(email))');

  // A record is one FHIR Patient and everything about that person.
  await knex.schema.createTable('records', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.date('birth_date');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('custodianships', (t) => {
    t.uuid('person_id').notNullable().references('people.id').onDelete('CASCADE');
    t.uuid('record_id').notNullable().references('records.id').onDelete('CASCADE');
    t.text('relationship').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['person_id', 'record_id']);
    t.index(['record_id']);
  });

  await knex.schema.createTable('resources', (t) => {
    t.text('type').notNullable();
    t.text('id').notNullable();
    t.uuid('record_id').notNullable().references('records.id').onDelete('CASCADE');
    t.integer('version_id').notNullable();
    t.timestamp('last_updated', { useTz: true }).notNullable();
    t.jsonb('content').notNullable();
    t.primary(['type', 'id']);
    t.index(['record_id', 'type', 'last_updated']);
  });

  // Shape required by rate-limiter-flexible's PostgreSQL store.
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['rate_limits', 'resources', 'custodianships', 'records', 'people', 'server_secrets', 'signing_keys', 'oidc_models']) {
    await knex.schema.dropTableIfExists(table);
  }
}
