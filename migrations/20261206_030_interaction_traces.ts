/**
 * What became of each web authorization request's steps, kept for a day after its interaction ends
 * (oidc-provider deletes an interaction once resumed, and lets one expire): so a page reached again
 * with Back, a reload or after the interaction expired can say truthfully what happened — "you
 * connected <app>", or "this took too long" with a way back to the app (RFC 6749 §4.1.2.1).
 * - `request_key`: the SHA-256 of the client, its PKCE challenge and state: the steps (sign-in,
 *   then consent) of one authorization request share it, so an old step can lead to the current one.
 * - `redirect_uri`, `state`, `response_mode`: where and how an error goes back to the app; the
 *   redirect_uri is checked against the client again before it is ever used.
 * - `outcome`: null while unanswered; `signed_in`, `allowed`, `denied` or `answered`.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('interaction_traces', (t) => {
    t.text('uid').primary();
    t.text('request_key').notNullable();
    t.text('client_id').notNullable();
    t.text('prompt').notNullable();
    t.text('redirect_uri').notNullable();
    t.text('state');
    t.text('response_mode');
    t.text('outcome');
    t.uuid('person_id');
    t.uuid('record_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['request_key', 'created_at']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('interaction_traces');
}
