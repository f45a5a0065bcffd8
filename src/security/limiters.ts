/**
 * How carevault counts guesses and requests: a {@link Limit} locks a key that reaches its count, a
 * {@link Backoff} makes a key wait longer after each failure without ever locking it, a
 * {@link Rate} bounds plain requests per window. Counters live in PostgreSQL (rate-limiter-flexible's
 * store) so every instance sees the same counts. Which limits exist, with their numbers, settings
 * and words, is the table in rate-limits.ts; nothing else builds one.
 */
import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Database } from '../db';
import { TooManyAttempts } from '../errors';

export type Limit = {
  /** Throws {@link TooManyAttempts} while `key` is locked; else the failures of `key` counted in the current window. */
  assertOpen(key: string): Promise<number>;
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

/** Where every limit keeps its counters: the one table the migrations create, shared by all instances. */
function sharedStore(db: Pick<Database, 'knex'>) {
  return { storeClient: unnamedQueries(db.knex), storeType: 'pool', tableName: 'rate_limits', tableCreated: true, clearExpiredByTimeout: false } as const;
}

function minutes(ms: number): string {
  const count = Math.max(1, Math.ceil(ms / 60_000));
  return count === 1 ? '1 minute' : `${count} minutes`;
}

/** A refusal telling the caller to wait `ms` (at least a second), in words and in `Retry-After`. */
function waitSeconds(message: string, ms: number): TooManyAttempts {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  return new TooManyAttempts(`${message} Try again in ${seconds === 1 ? '1 second' : `${seconds} seconds`}.`, seconds);
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
    ...sharedStore(db),
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
      return res?.consumedPoints ?? 0;
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

/**
 * Growing waits for one kind of key: the first `free` failures in `window` seconds cost nothing,
 * each one after makes the key wait twice as long as the one before (1 s, 2 s, 4 s …, at most
 * `maxDelay`) before it may be tried again. Never a lock: after the wait the next try is heard.
 */
export type Backoff = {
  /** Throws {@link TooManyAttempts} while `key` has to wait. */
  assertReady(key: string): Promise<void>;
  /** Counts one failure and sets the wait it earns; returns the failures counted in the window. */
  recordFailure(key: string): Promise<number>;
};

export function createBackoff(
  db: Pick<Database, 'knex'>,
  options: { prefix: string; free: number; window: number; maxDelay: number; message: string },
): Backoff {
  const store = sharedStore(db);
  const failures = new RateLimiterPostgres({ ...store, keyPrefix: `${options.prefix}-failures`, points: Number.MAX_SAFE_INTEGER, duration: options.window });
  // A key waits while it is "blocked" here; points 1, so any stored row over it means waiting.
  const waits = new RateLimiterPostgres({ ...store, keyPrefix: `${options.prefix}-wait`, points: 1, duration: options.maxDelay });
  return {
    async assertReady(key) {
      const res = await waits.get(key);
      if (res && res.consumedPoints > 1 && res.msBeforeNext > 0) throw waitSeconds(options.message, res.msBeforeNext);
    },
    async recordFailure(key) {
      const { consumedPoints } = await failures.penalty(key, 1);
      const over = consumedPoints - options.free;
      if (over > 0) await waits.block(key, Math.min(options.maxDelay, 2 ** Math.min(over - 1, 30)));
      return consumedPoints;
    },
  };
}

/**
 * A plain request rate for one kind of key: `points` requests per `duration` seconds; past it,
 * {@link TooManyAttempts} until the window ends. For work anyone can ask for without signing in.
 */
export type Rate = { consume(key: string): Promise<void> };

export function createRate(db: Pick<Database, 'knex'>, options: { prefix: string; points: number; duration: number; message: string }): Rate {
  const limiter = new RateLimiterPostgres({
    ...sharedStore(db),
    keyPrefix: options.prefix,
    points: options.points,
    duration: options.duration,
  });
  return {
    async consume(key) {
      try {
        await limiter.consume(key, 1);
      } catch (error) {
        throw error instanceof RateLimiterRes ? waitSeconds(options.message, error.msBeforeNext) : error;
      }
    },
  };
}
