/**
 * What one app may make the FHIR API do beyond a single request's bounds: a transaction or batch
 * Bundle is bounded on its own (transaction.ts: entries that read, resources returned), and large
 * ones — the ones whose validation costs up to a second of CPU — are counted per app, an hour at a
 * time (the `fhir-large-bundles-app` rate, security/rate-limits.ts), so one app cannot keep the
 * server validating. Counted before any transaction opens.
 */
import type { Config } from '../config';
import type { Rate } from '../security/limiters';
import type { BundleBounds } from './transaction';

/** A Bundle with more entries than this, or more bytes, counts as large. */
export const LARGE_BUNDLE_ENTRIES = 100;
const LARGE_BUNDLE_BYTES = 1024 * 1024;

export type FhirLimits = { bounds: BundleBounds; largeBundles: Rate };

export function isLargeBundle(body: unknown, bytes: number): boolean {
  const entries = (body as { entry?: unknown } | undefined)?.entry;
  return bytes > LARGE_BUNDLE_BYTES || (Array.isArray(entries) && entries.length > LARGE_BUNDLE_ENTRIES);
}

export function fhirLimits(config: Pick<Config, 'fhirBundles'>, largeBundles: Rate): FhirLimits {
  const { maxReads, maxResources } = config.fhirBundles;
  return { bounds: { maxReads, maxResources }, largeBundles };
}
