/**
 * Periodic clean-up: runs every registered sweep (expired tokens and counters, and the features'
 * own) on a timer. Safe on any number of instances: each sweep is an idempotent delete.
 */
import type { Sweep } from './feature';
import { describeError, log } from './log';

/** Runs every sweep once; returns how many rows each removed, by sweep name. */
export async function sweepOnce(sweeps: readonly Sweep[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const sweep of sweeps) counts[sweep.name] = await sweep.run();
  return counts;
}

/** Starts sweeping every `intervalSeconds`; returns a function that stops it (after a running sweep). */
export function startSweeper(sweeps: readonly Sweep[], intervalSeconds: number): () => Promise<unknown> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepOnce(sweeps)
      .then((counts) => log.debug('swept expired rows', counts))
      .catch((error: unknown) => log.warn('sweep failed', describeError(error)));
  }, intervalSeconds * 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    return running;
  };
}
