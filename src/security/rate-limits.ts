/**
 * Limits on guessable things. Counters live in PostgreSQL (rate-limiter-flexible's store) so every
 * instance sees the same counts. A key that reaches its limit is locked for the lock duration.
 */
import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Database } from '../db';
import { TooManyAttempts } from '../errors';

export type Limit = {
  /** Throws {@link TooManyAttempts} while `key` is locked. */
  assertOpen(key: string): Promise<void>;
  /** Counts one failure; throws {@link TooManyAttempts} when it reaches the limit. */
  recordFailure(key: string): Promise<void>;
  /** Forgets the failures of `key` (after a success). */
  reset(key: string): Promise<void>;
};

/**
 * The limiter sends named prepared statements. The embedded database serves every connection from
 * one PostgreSQL session, where a name prepared by one connection collides with the next; so its
 * queries run unnamed, on a connection from the knex pool — never call a limit inside a
 * transaction (on the embedded database the pool's one connection is the transaction's).
 */
function unnamedQueries(knex: Knex) {
  return {
    async query(query: { text: string; values?: unknown[] }) {
      const connection = (await knex.client.acquireConnection()) as { query(q: { text: string; values?: unknown[] }): Promise<unknown> };
      try {
        return await connection.query({ text: query.text, values: query.values ?? [] });
      } finally {
        await knex.client.releaseConnection(connection);
      }
    },
  };
}

function minutes(ms: number): string {
  const count = Math.max(1, Math.ceil(ms / 60_000));
  return count === 1 ? '1 minute' : `${count} minutes`;
}

/**
 * A limit of `points` failures per `duration` seconds for one kind of key (`prefix`); reaching it
 * locks the key for `lockDuration` seconds.
 */
export function createLimit(
  db: Pick<Database, 'knex'>,
  options: { prefix: string; points: number; duration: number; lockDuration: number; message: string },
): Limit {
  const limiter = new RateLimiterPostgres({
    storeClient: unnamedQueries(db.knex),
    storeType: 'pool',
    tableName: 'rate_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    keyPrefix: options.prefix,
    points: options.points,
    duration: options.duration,
    blockDuration: options.lockDuration,
  });
  const refuse = (res: RateLimiterRes) => {
    throw new TooManyAttempts(`${options.message} Try again in ${minutes(res.msBeforeNext)}.`, Math.ceil(res.msBeforeNext / 1000));
  };
  return {
    async assertOpen(key) {
      const res = await limiter.get(key);
      if (res && res.consumedPoints >= options.points) refuse(res);
    },
    async recordFailure(key) {
      try {
        const res = await limiter.penalty(key, 1);
        if (res.consumedPoints >= options.points) {
          await limiter.block(key, options.lockDuration);
        }
      } catch (error) {
        if (error instanceof RateLimiterRes) refuse(error);
        throw error;
      }
    },
    async reset(key) {
      await limiter.delete(key);
    },
  };
}
