/**
 * Where a person's pickup stands between pages, so every pickup form can answer with a redirect
 * (Post/Redirect/Get) and a reload or Back shows the state as it is. One row per browser (the
 * SHA-256 of a random cookie that never leaves the /pickup pages) and person: the sealed ticket a
 * right answer gave (never in a URL or a form), the record chosen, how the last step ended. Rows
 * last as long as a ticket does and are swept after.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('dopu_pickup_steps', (t) => {
    t.text('browser_hash').primary();
    t.uuid('person_id').notNullable().references('people.id').onDelete('CASCADE');
    t.uuid('package_id').notNullable().references('dopu_packages.id').onDelete('CASCADE');
    t.text('stage').notNullable();
    t.text('ticket');
    t.uuid('record_id').references('records.id').onDelete('SET NULL');
    t.text('notice');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at'], 'dopu_pickup_steps_expiry');
  });
  await knex.raw(`alter table dopu_pickup_steps add constraint dopu_pickup_steps_stage check (stage in ('opened', 'picked_up', 'declined', 'refused'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('dopu_pickup_steps');
}
