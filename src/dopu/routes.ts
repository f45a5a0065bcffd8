/**
 * DOPU's HTTP surface: the app API under `/api/dopu` and the person's pages under `/pickup`, as the
 * one router the feature contributes.
 */
import express from 'express';
import type { BearerGate } from '../api/gate';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { dopuApiRoutes } from './api-routes';
import { pickupPageRoutes } from './page-routes';
import type { PickupService } from './pickup';
import type { DopuService } from './service';

type Deps = { gate: BearerGate; packages: DopuService; pickup: PickupService; records: RecordService; issuer: string; csrf: Csrf };

export function dopuRoutes({ gate, packages, pickup, records, issuer, csrf }: Deps): express.Router {
  const router = express.Router();
  router.use(dopuApiRoutes({ gate, packages, issuer }));
  router.use(pickupPageRoutes({ pickup, records, csrf }));
  return router;
}
