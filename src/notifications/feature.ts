/**
 * Change notifications as a feature: FHIR Subscriptions (R5 Backport IG) an app keeps in the
 * record its token reaches, served inside /fhir; their delivery as jobs of a queue kept in the
 * database (pg-boss; a listener, started and closed with the server); the sweeps that forget
 * notifications sent a week ago (or waiting that long for a subscription in error) and keep the relay going; and the gauges of subscriptions by
 * status, deliveries and delivery lag.
 */
import type { Core, FeatureDefinition } from '../feature';
import { createDelivery } from './delivery';
import { createNotificationQueue } from './queue';
import { SUBSCRIPTION_STATUSES, capabilityResource } from './resource';
import { subscriptionRoutes } from './routes';
import { createSubscriptionService } from './service';
import { createSubscriptionStore } from './store';
import { NOTIFICATION_WORDS } from './words';

type NotificationDeps = Pick<Core, 'config' | 'db' | 'gate' | 'audit'> & { authorizations: Pick<Core['authorizations'], 'findById' | 'findByGrant'> };

/** The delivery totals the gauge reports (the store also keeps the last lag beside them). */
const DELIVERY_OUTCOMES = ['sent', 'retried', 'failed'] as const;

/** Days a sent notification is kept (for the operator's questions), and an unsent one for a subscription in error (for its app to put right), then forgotten. */
const KEEP_DAYS = 7;

export const notificationsFeature: FeatureDefinition = {
  name: 'notifications',
  auditWords: NOTIFICATION_WORDS,
  build({ config, db, gate, audit, authorizations }: NotificationDeps) {
    const fhirBase = `${config.issuer}/fhir`;
    const store = createSubscriptionStore(db);
    const queue = createNotificationQueue(db);
    const options = {
      db,
      store,
      queue,
      authorizations,
      fhirBase,
      allowPrivate: config.subscriptionAllowPrivateEndpoints,
      keyEncryptionSecret: config.keyEncryptionSecret,
    };
    const subscriptions = createSubscriptionService({ audit, ...options });
    const delivery = createDelivery(options);
    return {
      afterProvider() {
        return {
          fhir: { router: subscriptionRoutes({ gate, subscriptions, fhirBase }), resources: [capabilityResource(fhirBase)] },
          listeners: [delivery.listener],
          sweeps: [
            { name: 'notificationsSent', run: () => store.forgetOld(KEEP_DAYS) },
            // Also done by every relay; here too, so ended subscriptions go off even while the relay is held up.
            { name: 'notificationsEnded', run: () => store.turnOffEnded() },
            {
              // The relay sends its successor; should that chain ever break (its database out at the moment), this sends one again.
              name: 'notificationRelay',
              run: async () => {
                await delivery.kickRelay();
                return 0;
              },
            },
          ],
          gauges: [
            {
              name: 'carevault_notification_subscriptions',
              help: 'FHIR Subscriptions stored, by status (requested, active, error, off).',
              statuses: SUBSCRIPTION_STATUSES,
              count: () => store.countByStatus(),
            },
            {
              name: 'carevault_notification_deliveries',
              help: 'Notification deliveries since the database was made, by every instance: sent (answered 2xx), retried (failed, tried again), failed (the last attempt failed: the subscription went to error).',
              statuses: DELIVERY_OUTCOMES,
              count: async () => {
                const totals = await store.totals();
                return Object.fromEntries(DELIVERY_OUTCOMES.map((outcome) => [outcome, totals[outcome] ?? 0]));
              },
            },
            {
              name: 'carevault_notification_lag_seconds',
              help: 'Delivery lag in seconds: waiting (how long the oldest notification not yet sent has waited), last (from the change to its notification answered, for the last one sent).',
              statuses: ['waiting', 'last'],
              count: async () => ({ waiting: await store.oldestWaitingSeconds(), last: (await store.totals()).last_lag_seconds ?? 0 }),
            },
          ],
        };
      },
    };
  },
};
