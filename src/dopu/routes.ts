/**
 * DOPU's person-facing HTTP surface: the `/pickup` pages, as one router for the feature (the app
 * API is the operation table in api-routes.ts, which the core mounts).
 */
import express from 'express';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { pickupPageRoutes } from './page-routes';
import type { PickupService } from './pickup';
import type { PickupSteps } from './steps';

type Deps = { pickup: PickupService; steps: PickupSteps; records: RecordService; csrf: Csrf; secure: boolean };

export function dopuRoutes(deps: Deps): express.Router {
  const router = express.Router();
  router.use(pickupPageRoutes(deps));
  return router;
}
