/**
 * Every version of every FHIR resource, for vread and history: a row per create, update
 * and delete, written in the same transaction as the current row in `resources`. A deletion is a
 * version of its own with no content, so a deleted resource still answers 410 and its earlier
 * versions stay readable. Existing resources get their current version as their first history row.
 * https://hl7.org/fhir/R4/http.html#vread · https://hl7.org/fhir/R4/http.html#history
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('resource_versions', (t) => {
    t.uuid('record_id').notNullable().references('records.id').onDelete('CASCADE');
    t.text('type').notNullable();
    t.text('id').notNullable();
    t.integer('version_id').notNullable();
    t.timestamp('last_updated', { useTz: true }).notNullable();
    // Null for a deletion.
    t.jsonb('content');
    t.boolean('deleted').notNullable().defaultTo(false);
    t.primary(['record_id', 'type', 'id', 'version_id']);
  });
  await knex.raw(
    'insert into resource_versions (record_id, type, id, version_id, last_updated, content) select record_id, type, id, version_id, last_updated, content from resources',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('resource_versions');
}
