/**
 * The connectivity options the server runs: one line each. Adding an option is a new folder whose
 * `feature.ts` exports a FeatureDefinition (feature.ts), plus its line here.
 */
import { accountFeature } from './account/feature';
import { connectFeature } from './connect/feature';
import { directFeature } from './direct/feature';
import { documentsFeature } from './documents/feature';
import { dopuFeature } from './dopu/feature';
import type { FeatureDefinition } from './feature';
import { notificationsFeature } from './notifications/feature';
import { sharingFeature } from './sharing/feature';

export const FEATURES: readonly FeatureDefinition[] = [
  dopuFeature,
  connectFeature,
  directFeature,
  accountFeature,
  sharingFeature,
  documentsFeature,
  notificationsFeature,
];
