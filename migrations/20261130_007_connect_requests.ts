/**
 * Patient Connect: connect requests an app made for a person it met, each riding on one
 * oidc-provider device code (RFC 8628). The secret answer is kept only as an argon2id hash.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('connect_requests', (t) => {
    t.uuid('id').primary();
    t.text('client_id').notNullable();
    t.text('external_id').notNullable();
    t.text('friendly_name').notNullable();
    t.text('question').notNullable();
    t.text('answer_hash').notNullable();
    // The device code the request rides on (the app polls with it; oidc_models keys it the same way).
    t.text('device_code').notNullable().unique();
    // pending → authorized, or denied | locked | expired | withdrawn.
    t.text('status').notNullable().defaultTo('pending');
    t.integer('wrong_answers').notNullable().defaultTo(0);
    // Who answered the secret question rightly (the person who may then consent).
    t.uuid('answered_by');
    t.uuid('record_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('authorized_at', { useTz: true });
    t.timestamp('ended_at', { useTz: true });
    // RFC 8628 §3.5: polls closer than `poll_interval` get slow_down, which adds 5 seconds.
    t.timestamp('last_polled_at', { useTz: true });
    t.integer('poll_interval').notNullable().defaultTo(5);
    t.index(['client_id', 'status', 'authorized_at'], 'connect_requests_listing');
  });
  await knex.raw(
    `alter table connect_requests add constraint connect_requests_status check (status in ('pending', 'authorized', 'denied', 'locked', 'expired', 'withdrawn'))`,
  );
  // One pending request per external_id per app.
  await knex.raw(`create unique index connect_requests_one_pending on connect_requests (client_id, external_id) where status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('connect_requests');
}
