/**
 * Change notifications (FHIR Subscriptions, R5 Backport IG): `subscriptions`, an app's own
 * Subscription in one record under the authorization it was made with; `subscription_notifications`,
 * the outbox — one row per change per subscription that asked for it, written by a trigger on
 * `resource_versions` in the very statement that versions the change, so every write path (an app,
 * a pickup, a filed message, an import, the person's pages) is covered and no change commits
 * without its notifications, nor a notification without its change. Writes to a record that has
 * no subscription add nothing. `notification_totals`: the delivery counts every instance adds to,
 * for the operator's metrics. The delivery jobs live in pg-boss's own schema (src/notifications/queue.ts).
 * https://hl7.org/fhir/uv/subscriptions-backport/
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('subscriptions', (t) => {
    t.uuid('id').primary();
    t.uuid('record_id').notNullable().references('id').inTable('records').onDelete('CASCADE');
    t.text('client_id').notNullable();
    t.uuid('authorization_id').notNullable().references('id').inTable('authorizations').onDelete('CASCADE');
    // requested (handshake pending), active, error (the endpoint kept failing), off (the authorization ended).
    t.text('status').notNullable();
    t.text('reason').notNullable().defaultTo('');
    t.text('endpoint').notNullable();
    // The channel's headers as JSON, sealed under KEY_ENCRYPTION_SECRET when one is set.
    t.text('headers').notNullable();
    t.text('content').notNullable();
    // The resource type of the filter (`Observation?`); null: every type the app may read.
    t.text('filter_type');
    t.integer('heartbeat_seconds');
    t.integer('version_id').notNullable().defaultTo(1);
    t.bigInteger('events_since_start').notNullable().defaultTo(0);
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('error');
    // Set while a delivery job for it is in the queue (sent in the same transaction): one at a time.
    t.timestamp('queued_at', { useTz: true });
    t.timestamp('last_sent_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['record_id', 'status']);
    t.index(['client_id', 'record_id']);
    t.index(['status', 'queued_at']);
  });
  await knex.schema.createTable('subscription_notifications', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('subscription_id').notNullable().references('id').inTable('subscriptions').onDelete('CASCADE');
    t.text('type').notNullable();
    t.text('resource_id').notNullable();
    t.integer('version_id').notNullable();
    t.text('kind').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Set when sent, or when passed over (a type the app may no longer read): never sent twice.
    t.timestamp('done_at', { useTz: true });
  });
  await knex.raw('create index subscription_notifications_pending on subscription_notifications (subscription_id, id) where done_at is null');
  await knex.raw('create index subscription_notifications_done on subscription_notifications (done_at) where done_at is not null');
  await knex.schema.createTable('notification_totals', (t) => {
    t.text('name').primary();
    t.double('value').notNullable().defaultTo(0);
  });
  await knex.raw(`
    create function subscription_notifications_of_version() returns trigger language plpgsql as $$
    begin
      insert into subscription_notifications (subscription_id, type, resource_id, version_id, kind)
      select s.id, new.type, new.id, new.version_id,
             case when new.deleted then 'delete' when new.version_id = 1 then 'create' else 'update' end
        from subscriptions s
       where s.record_id = new.record_id
         -- In error too: the app that puts its Subscription right gets every change since.
         and s.status in ('requested', 'active', 'error')
         and (s.filter_type is null or s.filter_type = new.type);
      return null;
    end $$`);
  await knex.raw(
    'create trigger subscription_notifications_after_version after insert on resource_versions for each row execute function subscription_notifications_of_version()',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists subscription_notifications_after_version on resource_versions');
  await knex.raw('drop function if exists subscription_notifications_of_version()');
  await knex.schema.dropTableIfExists('notification_totals');
  await knex.schema.dropTableIfExists('subscription_notifications');
  await knex.schema.dropTableIfExists('subscriptions');
}
