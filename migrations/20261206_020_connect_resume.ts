/**
 * Patient Connect requests that resume: an identity code entered again carries on with the same
 * request until it is authorized, denied, locked or expired.
 * - `opened_at`: when someone first entered the identity code; the app's list shows such a
 *   request as `opened` (still pending, but the person has it in hand).
 * - `connect_interactions`: the authorization-flow steps (SHA-256 of oidc-provider's interaction uids) a request
 *   went through, so a page of a step that is over (Back, reload) can say where the request stands
 *   instead of "start again". Rows go with their request.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('connect_requests', (t) => {
    t.timestamp('opened_at', { useTz: true });
  });
  await knex.schema.createTable('connect_interactions', (t) => {
    t.text('uid_hash').primary();
    t.uuid('request_id').notNullable().references('id').inTable('connect_requests').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['request_id'], 'connect_interactions_request');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('connect_interactions');
  await knex.schema.alterTable('connect_requests', (t) => {
    t.dropColumn('opened_at');
  });
}
