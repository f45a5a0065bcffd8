/**
 * Periodic clean-up of expired rows (codes, tokens, sessions, interactions, rate-limit counters).
 * Safe on any number of instances: each run is an idempotent delete.
 */
import type { Knex } from 'knex';
import { describeError, log } from './log';
import { createModelStore } from './oidc/store';
import { sweepRateLimits } from './security/store';

export async function sweepOnce(knex: Knex): Promise<{ models: number; rateLimits: number }> {
  const models = await createModelStore(knex).sweepExpired();
  const rateLimits = await sweepRateLimits(knex);
  return { models, rateLimits };
}

/** Starts sweeping every `intervalSeconds`; returns a function that stops it. */
export function startSweeper(knex: Knex, intervalSeconds: number): () => void {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepOnce(knex)
      .then((counts) => log.debug('swept expired rows', counts))
      .catch((error: unknown) => log.warn('sweep failed', describeError(error)));
  }, intervalSeconds * 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    return running;
  };
}
