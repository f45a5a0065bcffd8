/**
 * What a person's pages need to know about them beyond who they are: the time zone their browser
 * reports (an IANA name, so history times and days are theirs; UTC until it is known) and when
 * they last saw their home page (what is "new since your last visit").
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('people', (t) => {
    t.text('time_zone');
    t.timestamp('last_visit_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('people', (t) => {
    t.dropColumn('time_zone');
    t.dropColumn('last_visit_at');
  });
}
