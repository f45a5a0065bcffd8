/**
 * The gauges Prometheus reads from the database on each scrape: the pool, and how many DOPU
 * packages and connect requests are in each status. prom-client asks every gauge at once, so the
 * gauges share one reading per scrape (the queries run once). Every known status is reported, at
 * zero too, so a dashboard's series do not vanish; statuses are as stored (a pending package past
 * its expiry counts as pending until the sweep marks it expired).
 */
import type { Gauge } from 'prom-client';
import { createConnectStore, type ConnectStatus } from '../connect/store';
import { poolStatsOf, type Database, type PoolStats } from '../db';
import { PACKAGE_STATUSES } from '../dopu/schemas';
import { createPackageStore } from '../dopu/store';

const CONNECT_STATUSES: readonly ConnectStatus[] = ['pending', 'authorized', 'denied', 'locked', 'expired', 'withdrawn'];

type Counts = { packages: Record<string, number>; connectRequests: Record<string, number> };
export type StoredState = { pool: PoolStats | undefined; counts: Counts | undefined };

/** Reads the state once per scrape: callers arriving while a reading runs share it. */
export function storedStateReader(db: Database): () => Promise<StoredState> {
  const packages = createPackageStore(db);
  const connectRequests = createConnectStore(db);
  let reading: Promise<StoredState> | undefined;
  const read = async (): Promise<StoredState> => {
    const pool = poolStatsOf(db);
    try {
      // One after the other: the embedded database has one connection.
      const counts = { packages: await packages.countByStatus(), connectRequests: await connectRequests.countByStatus() };
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

export function setByStatus(gauge: Gauge<'status'>, which: 'packages' | 'connectRequests', counts: Counts | undefined): void {
  if (!counts) return;
  const known = which === 'packages' ? PACKAGE_STATUSES : CONNECT_STATUSES;
  const byStatus = counts[which];
  for (const status of new Set([...known, ...Object.keys(byStatus)])) gauge.set({ status }, byStatus[status] ?? 0);
}
