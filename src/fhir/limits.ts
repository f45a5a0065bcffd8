/**
 * What one app may make the FHIR API do beyond a single request's bounds: a transaction or batch
 * Bundle is bounded on its own (transaction.ts: entries that read, resources returned), and large
 * ones — the ones whose validation costs up to a second of CPU — are counted per app, an hour at a
 * time, so one app cannot keep the server validating. Counted before any transaction opens.
 */
import type { Config } from '../config';
import type { Database } from '../db';
import { createRate, type Rate } from '../security/rate-limits';
import type { BundleBounds } from './transaction';

/** A Bundle with more entries than this, or more bytes, counts as large. */
export const LARGE_BUNDLE_ENTRIES = 100;
export const LARGE_BUNDLE_BYTES = 1024 * 1024;

export type FhirLimits = { bounds: BundleBounds; largeBundles: Rate };

export function isLargeBundle(body: unknown, bytes: number): boolean {
  const entries = (body as { entry?: unknown } | undefined)?.entry;
  return bytes > LARGE_BUNDLE_BYTES || (Array.isArray(entries) && entries.length > LARGE_BUNDLE_ENTRIES);
}

export function fhirLimits(db: Pick<Database, 'knex'>, config: Pick<Config, 'fhirBundles'>): FhirLimits {
  const { maxReads, maxResources, largePerApp } = config.fhirBundles;
  return {
    bounds: { maxReads, maxResources },
    largeBundles: createRate(db, {
      prefix: 'fhir-large-bundles-app',
      points: largePerApp,
      duration: 3600,
      message: `This app has sent ${largePerApp} large Bundles (over ${LARGE_BUNDLE_ENTRIES} entries or 1 MB) in the last hour, as many as one app may.`,
    }),
  };
}
