/**
 * The connectivity options the server runs: one line each. Adding an option is a new folder whose
 * `feature.ts` exports a FeatureDefinition (feature.ts), plus its line here.
 */
import { accountFeature } from './account/feature';
import { connectFeature } from './connect/feature';
import { directFeature } from './direct/feature';
import { dopuFeature } from './dopu/feature';
import type { FeatureDefinition } from './feature';
import { notificationsFeature } from './notifications/feature';

export const FEATURES: readonly FeatureDefinition[] = [dopuFeature, connectFeature, directFeature, accountFeature, notificationsFeature];
