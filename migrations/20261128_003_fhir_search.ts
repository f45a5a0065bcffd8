/**
 * FHIR search support on resources: an immutable sequence for stable paging, the date a resource
 * is about, and its token search values (e.g. `code:http://loinc.org|29463-7`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table resources add column seq bigserial');
  await knex.schema.alterTable('resources', (t) => {
    t.timestamp('search_date', { useTz: true });
    t.specificType('search_tokens', 'text[]').notNullable().defaultTo('{}');
    t.index(['record_id', 'type', 'seq'], 'resources_record_type_seq');
  });
  await knex.raw('create unique index resources_seq on resources (seq)');
  await knex.raw('create index resources_search_tokens on resources using gin (search_tokens)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists resources_search_tokens');
  await knex.raw('drop index if exists resources_seq');
  await knex.schema.alterTable('resources', (t) => {
    t.dropIndex(['record_id', 'type', 'seq'], 'resources_record_type_seq');
    t.dropColumn('search_tokens');
    t.dropColumn('search_date');
    t.dropColumn('seq');
  });
}
