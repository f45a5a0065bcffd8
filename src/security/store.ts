/**
 * SQL for security counters.
 */
import type { Database } from '../db';

/** Deletes rate-limit counters whose window has passed (rate-limiter-flexible stores ms epochs). */
export async function sweepRateLimits(db: Database): Promise<number> {
  return db.table('rate_limits').where('expire', '<', Date.now()).delete();
}
