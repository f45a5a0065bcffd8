/**
 * The delivery queue: pg-boss, kept in this server's database (its own schema) and run on this
 * server's connections (the embedded database has one), so a job sent inside a transaction commits
 * or rolls back with the change that sent it. pg-boss hands each job to one worker on whichever
 * instance fetches it first (`FOR UPDATE SKIP LOCKED`), retries a failed one with exponential
 * backoff, and gives a killed instance's job to another once it expires. Each instance's workers
 * fetch, run and settle jobs through pg-boss's fetch, complete and fail.
 *
 * Two queues:
 * - delivery: one job is "deliver what is due for this subscription". A subscription is marked
 *   queued in the transaction that sends its job (store.ts), so it never has two: its notifications
 *   go out one at a time and in order, while other subscriptions' jobs run beside it.
 * - relay: reads the outbox for subscriptions with work due and no job (a change written by any
 *   path, a heartbeat due, a lost job) and sends their jobs; the relay job sends its own successor,
 *   so one relay runs at a time across every instance, every second.
 * https://github.com/timgit/pg-boss/blob/10.4.2/docs/readme.md
 */
import PgBoss from 'pg-boss';
import type { Database } from '../db';
import { describeError, log } from '../log';
import type { QueuedSubscription } from './store';

/** pg-boss's tables live here, beside carevault's. */
const SCHEMA = 'notification_queue';
const DELIVERY = 'notification-delivery';
const RELAY = 'notification-relay';

/** Retries after a failed delivery: with the first attempt, 5, about 1, 2, 4 and 8 seconds apart (pg-boss doubles the delay, with jitter). */
export const DELIVERY_RETRIES = 4;
/** How long a delivery job may run before pg-boss takes it for lost (a killed instance) and retries it: past a job's own time limit. */
const DELIVERY_EXPIRE_SECONDS = 30;
/** Seconds between relays. */
const RELAY_SECONDS = 1;
/** How often each instance asks for work, in seconds. */
const POLL_SECONDS = 1;
/** Delivery jobs one instance works on at once: a few endpoints slow to answer hold up none of the others. */
const WORKERS = 4;

/** What a delivery job carries: the job and what pg-boss knows of its attempts. */
export type DeliveryJob = { subscription: QueuedSubscription; retryCount: number };

export type NotificationQueue = {
  /** Sends the subscription's delivery job, in the current transaction: mark it queued in the same one. */
  send(subscription: QueuedSubscription): Promise<void>;
  /** Starts working both queues: `deliver` does one delivery job (throwing to have it retried), `relay` sends the jobs of subscriptions with work due. */
  start(handlers: { deliver(job: DeliveryJob): Promise<void>; relay(): Promise<void> }): Promise<void>;
  /** Sends a relay if none waits (every instance at start, and the sweeper, so the chain of relays never stays broken); nothing when not working. */
  kickRelay(): Promise<void>;
  /** Stops fetching, waits for the jobs under way, and leaves the database open. */
  stop(): Promise<void>;
};

export function createNotificationQueue(db: Database): NotificationQueue {
  const boss = new PgBoss({
    db: { executeSql: (text, values) => db.execute(text, values ?? []) },
    schema: SCHEMA,
    // No cron schedules: the relay sends its successor.
    schedule: false,
    supervise: true,
    // Expired jobs (a killed instance's) are found this often.
    maintenanceIntervalSeconds: 5,
  });
  boss.on('error', (error: unknown) => log.warn('notification queue', describeError(error)));
  /** Working the queues: between start and stop (a command that only sweeps never starts them). */
  let working = false;

  const workers: Promise<void>[] = [];
  /** Workers waiting for their next look, woken early when the queue stops. */
  const waiting = new Set<() => void>();
  const pause = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, POLL_SECONDS * 1000);
      waiting.add(wake);
    });

  /**
   * One worker of `queue` until the queue stops: fetches a job, runs it, and completes it — or fails
   * it, for pg-boss to retry. The worker pg-boss's own `work` runs does not wait for its complete and
   * fail, so a connection lost at that moment would be an unhandled rejection; here each is awaited
   * and a failure logged (the job, still active, expires and is retried: at least once).
   */
  const work = async <T extends object>(queue: string, run: (job: PgBoss.JobWithMetadata<T>) => Promise<void>): Promise<void> => {
    while (working) {
      let job: PgBoss.JobWithMetadata<T> | undefined;
      try {
        [job] = await boss.fetch<T>(queue, { batchSize: 1, includeMetadata: true });
      } catch (error) {
        log.warn('notification queue: fetching failed', describeError(error));
      }
      if (!job) {
        await pause();
        continue;
      }
      let failure: unknown;
      try {
        await run(job);
      } catch (error) {
        failure = error;
      }
      try {
        if (failure === undefined) await boss.complete(queue, job.id);
        else await boss.fail(queue, job.id, { message: failure instanceof Error ? failure.message : 'failed' });
      } catch (error) {
        log.warn('notification queue: a job could not be marked done', describeError(error));
      }
    }
  };

  const kickRelay = async () => {
    if (!working) return;
    await boss.send(RELAY, {}, { startAfter: RELAY_SECONDS });
  };

  return {
    async send(subscription) {
      await boss.send(DELIVERY, { id: subscription.id, version_id: subscription.version_id });
    },
    kickRelay,
    async start({ deliver, relay }) {
      await boss.start();
      await boss.createQueue(DELIVERY, {
        name: DELIVERY,
        policy: 'standard',
        retryLimit: DELIVERY_RETRIES,
        retryDelay: 1,
        retryBackoff: true,
        expireInSeconds: DELIVERY_EXPIRE_SECONDS,
      });
      // One relay waiting and one running at most, whichever instance sent them.
      await boss.createQueue(RELAY, { name: RELAY, policy: 'stately', retryLimit: 0, expireInSeconds: 30 });
      working = true;
      for (let worker = 0; worker < WORKERS; worker += 1) {
        workers.push(
          work<QueuedSubscription>(DELIVERY, async (job) => {
            await deliver({ subscription: job.data, retryCount: job.retryCount });
          }),
        );
      }
      workers.push(
        work(RELAY, async () => {
          try {
            await relay();
          } finally {
            await kickRelay();
          }
        }),
      );
      await kickRelay();
    },
    async stop() {
      working = false;
      for (const wake of waiting) wake();
      await Promise.all(workers);
      await boss.stop({ graceful: false, close: false });
    },
  };
}
