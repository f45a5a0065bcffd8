/**
 * How carevault counts guesses and requests: a {@link Limit} locks a key that reaches its count, a
 * {@link Backoff} makes a key wait longer after each failure without ever locking it, a
 * {@link Rate} bounds plain requests per window. A guess is an {@link Attempt} taken before the
 * secret is judged, so the limit holds however many guesses arrive at once, on any instance. Counters live in PostgreSQL (rate-limiter-flexible's
 * store) so every instance sees the same counts. Which limits exist, with their numbers, settings
 * and words, is the table in rate-limits.ts; nothing else builds one.
 */
import type { Knex } from 'knex';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Database } from '../db';
import { TooManyAttempts } from '../errors';

/**
 * One guess at a secret, counted before it is judged: concurrent guesses each take their own point
 * in one atomic statement, so a burst can never have more guesses judged than the limit allows.
 * Settle it once: {@link Attempt.failed} keeps the point, {@link Attempt.giveBack} returns it; later
 * calls do nothing.
 */
export type Attempt = {
  /** Failures of the key counted before this attempt (attempts still being judged are not failures yet). */
  readonly before: number;
  /** The guess was wrong: its point stays; the failure that reaches the limit locks the key (this guess is still told it was wrong). */
  failed(): Promise<void>;
  /** The guess was right, or never judged: its point is given back. */
  giveBack(): Promise<void>;
};

export type Limit = {
  /** Takes one attempt for `key` before the secret is judged. @throws TooManyAttempts while `key` is locked or its attempts already reach the limit. */
  take(key: string): Promise<Attempt>;
  /** Throws {@link TooManyAttempts} while `key` is locked; for pages that judge no secret (judging one takes an attempt). */
  assertOpen(key: string): Promise<void>;
  /** Forgets the failures of `key` (after a success). */
  reset(key: string): Promise<void>;
};

/** Settles at most once, whichever of its two ways is called first. */
function onceSettled(before: number, failed: () => Promise<void>, giveBack: () => Promise<void>): Attempt {
  let settled = false;
  const settle = (how: () => Promise<void>) => async () => {
    if (settled) return;
    settled = true;
    await how();
  };
  return { before, failed: settle(failed), giveBack: settle(giveBack) };
}

/** What a guess refused because others are being judged is told, and how long it is asked to wait. */
const BUSY = 'Too many attempts at once. Try again in a few seconds.';
const BUSY_SECONDS = 2;

/**
 * Returns a point taken at `takenAt` — unless the window it was counted in has ended meanwhile (the
 * store would then start the next window below zero, a free guess).
 */
async function giveBack(limiter: RateLimiterPostgres, key: string, takenAt: number, taken: RateLimiterRes): Promise<void> {
  if (Date.now() < takenAt + taken.msBeforeNext) await limiter.reward(key, 1);
}

/**
 * Takes one attempt from each limit in order, each step seeing the attempts taken before it; when a
 * step refuses, the attempts already taken are given back (a refused guess is not a failure).
 */
export async function takeAll(steps: readonly ((taken: readonly Attempt[]) => Promise<Attempt>)[]): Promise<Attempt[]> {
  const taken: Attempt[] = [];
  try {
    for (const step of steps) taken.push(await step(taken));
  } catch (error) {
    await settleAll(taken, 'giveBack');
    throw error;
  }
  return taken;
}

/** Settles every attempt the same way. */
export async function settleAll(attempts: readonly Attempt[], how: 'failed' | 'giveBack'): Promise<void> {
  for (const attempt of attempts) await attempt[how]();
}

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
  const store = sharedStore(db);
  // Attempts counted in the window, the ones being judged included: the bound a burst meets.
  const attempts = new RateLimiterPostgres({ ...store, keyPrefix: options.prefix, points: options.points, duration: options.duration });
  // Failures alone, and the lock the one reaching the limit sets — kept apart from the attempts so
  // that attempts given back (refused or right ones) can never lower them.
  const failures = new RateLimiterPostgres({ ...store, keyPrefix: `${options.prefix}-failures`, points: options.points, duration: options.duration });
  const locked = (msBeforeNext: number) => new TooManyAttempts(`${options.message} Try again in ${minutes(msBeforeNext)}.`, Math.ceil(msBeforeNext / 1000));
  /** The failures counted for `key`; throws while it is locked. */
  const failuresOf = async (key: string): Promise<number> => {
    const counted = await failures.get(key);
    if (!counted || counted.msBeforeNext <= 0) return 0;
    if (counted.consumedPoints > options.points) throw locked(counted.msBeforeNext);
    return counted.consumedPoints;
  };
  return {
    async take(key) {
      const before = await failuresOf(key);
      const takenAt = Date.now();
      let taken: RateLimiterRes;
      try {
        taken = await attempts.consume(key, 1);
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        // Attempts being judged already reach the limit (or their last failure is locking it): the
        // point this refusal added goes back, so a burst outrunning its guesses locks nothing itself.
        await giveBack(attempts, key, takenAt, error);
        throw new TooManyAttempts(BUSY, BUSY_SECONDS);
      }
      return onceSettled(
        before,
        async () => {
          const counted = await failures.penalty(key, 1);
          if (counted.consumedPoints >= options.points) await failures.block(key, options.lockDuration);
        },
        () => giveBack(attempts, key, takenAt, taken),
      );
    },
    async assertOpen(key) {
      await failuresOf(key);
    },
    async reset(key) {
      await attempts.delete(key);
      await failures.delete(key);
    },
  };
}

/**
 * Growing waits for one kind of key: the first `free` failures in `window` seconds cost nothing,
 * each one after makes the key wait twice as long as the one before (1 s, 2 s, 4 s …, at most
 * `maxDelay`) before it may be tried again. Never a lock: after the wait the next try is heard.
 * Past the free failures the key is tried one attempt at a time: an attempt holds the key's turn
 * until it is settled (or for `maxDelay`, if its request never settles it).
 */
export type Backoff = {
  /**
   * Takes one attempt for `key` before the secret is judged; an attempt that is `exempt` counts but
   * never waits (the caller decides who is spared, e.g. addresses that never guessed at the key).
   * @throws TooManyAttempts while `key` has to wait, or another attempt holds its turn.
   */
  take(key: string, exempt?: boolean): Promise<Attempt>;
};

export function createBackoff(
  db: Pick<Database, 'knex'>,
  options: { prefix: string; free: number; window: number; maxDelay: number; message: string },
): Backoff {
  const store = sharedStore(db);
  const attempts = new RateLimiterPostgres({ ...store, keyPrefix: `${options.prefix}-failures`, points: Number.MAX_SAFE_INTEGER, duration: options.window });
  // The key's turn: taken by one consume (points 1); a second consume while it is held, or while
  // a failure's wait (a block) lasts, is refused.
  const turns = new RateLimiterPostgres({ ...store, keyPrefix: `${options.prefix}-wait`, points: 1, duration: options.maxDelay });
  return {
    async take(key, exempt = false) {
      const takenAt = Date.now();
      const taken = await attempts.consume(key, 1);
      const over = taken.consumedPoints - options.free;
      const needsTurn = over > 0 && !exempt;
      if (needsTurn) {
        try {
          await turns.consume(key, 1);
        } catch (error) {
          await giveBack(attempts, key, takenAt, taken);
          throw error instanceof RateLimiterRes ? waitSeconds(options.message, error.msBeforeNext) : error;
        }
      }
      return onceSettled(
        taken.consumedPoints - 1,
        async () => {
          if (over > 0) await turns.block(key, Math.min(options.maxDelay, 2 ** Math.min(over - 1, 30)));
        },
        async () => {
          await giveBack(attempts, key, takenAt, taken);
          if (needsTurn) await turns.delete(key);
        },
      );
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
