/**
 * Direct messaging's routes (issue 12): the app API under /api/direct and the person's /inbox pages.
 */
import express from 'express';
import type { BearerGate } from '../api/gate';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { directApiRoutes } from './api-routes';
import { inboxRoutes } from './inbox-routes';
import type { DirectService } from './service';

type Deps = { gate: BearerGate; records: RecordService; direct: DirectService; csrf: Csrf };

export function directRoutes({ gate, records, direct, csrf }: Deps): express.Router {
  const router = express.Router();
  router.use(directApiRoutes({ gate, direct }));
  router.use(inboxRoutes({ records, direct, csrf }));
  return router;
}
