/**
 * `message_mail`: the people who asked to be emailed when a Direct message arrives in an inbox they
 * look after — one row per person who turned it on (no row: off, as for every new account). When
 * mail goes out is left to the rate limit of that name, not kept here.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('message_mail', (t) => {
    t.uuid('person_id').primary().references('id').inTable('people').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('message_mail');
}
