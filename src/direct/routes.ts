/**
 * Direct messaging's person-facing routes: the /inbox pages (the app API is the operation table
 * in api-routes.ts, which the core mounts).
 */
import express from 'express';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { inboxRoutes } from './inbox-routes';
import type { DirectService } from './service';

type Deps = { records: RecordService; direct: DirectService; csrf: Csrf };

export function directRoutes({ records, direct, csrf }: Deps): express.Router {
  const router = express.Router();
  router.use(inboxRoutes({ records, direct, csrf }));
  return router;
}
