/**
 * The gauges Prometheus reads from the database on each scrape: the pool, and the features' gauges
 * of what they store by status (feature.ts, StatusGauge). prom-client asks every gauge at once, so
 * the gauges share one reading per scrape (the queries run once, one after the other: the embedded
 * database has one connection). Every known status is reported, at zero too, so a dashboard's
 * series do not vanish; statuses are as stored (a pending package past its expiry counts as pending
 * until the sweep marks it expired).
 */
import type { Gauge } from 'prom-client';
import { poolStatsOf, type Database, type PoolStats } from '../db';
import type { StatusGauge } from '../feature';

/** Counts by status, by gauge name; `undefined` when the database did not answer. */
type Counts = ReadonlyMap<string, Record<string, number>>;
export type StoredState = { pool: PoolStats | undefined; counts: Counts | undefined };

/** Reads the state once per scrape: callers arriving while a reading runs share it. */
export function storedStateReader(db: Database, gauges: () => readonly StatusGauge[]): () => Promise<StoredState> {
  let reading: Promise<StoredState> | undefined;
  const read = async (): Promise<StoredState> => {
    const pool = poolStatsOf(db);
    try {
      const counts = new Map<string, Record<string, number>>();
      for (const gauge of gauges()) counts.set(gauge.name, await gauge.count());
      // Without a gauge to read, the database is asked directly whether it answers.
      if (counts.size === 0) await db.check();
      return { pool, counts };
    } catch {
      // A scrape still answers while the database is down; carevault_database_up says so.
      return { pool, counts: undefined };
    }
  };
  return () => {
    reading ??= read().finally(() => {
      reading = undefined;
    });
    return reading;
  };
}

export function setPool(gauge: Gauge<'state'>, stats: PoolStats | undefined): void {
  if (!stats) return;
  gauge.set({ state: 'used' }, stats.used);
  gauge.set({ state: 'free' }, stats.free);
  gauge.set({ state: 'pending' }, stats.pendingAcquires);
  gauge.set({ state: 'max' }, stats.max);
}

export function setByStatus(gauge: Gauge<'status'>, watched: StatusGauge, counts: Counts | undefined): void {
  const byStatus = counts?.get(watched.name);
  if (!byStatus) return;
  for (const status of new Set([...watched.statuses, ...Object.keys(byStatus)])) gauge.set({ status }, byStatus[status] ?? 0);
}
