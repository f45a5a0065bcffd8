/**
 * SQL for security counters.
 */
import type { Knex } from 'knex';

/** Deletes rate-limit counters whose window has passed (rate-limiter-flexible stores ms epochs). */
export async function sweepRateLimits(knex: Knex): Promise<number> {
  return knex('rate_limits').where('expire', '<', Date.now()).delete();
}
