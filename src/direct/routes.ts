/**
 * Direct messaging's person-facing routes: the /inbox pages and the page of a document filed into a
 * record (the app API is the operation table in api-routes.ts, which the core mounts).
 */
import express from 'express';
import type { RecordRepositories } from '../fhir/repository';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { documentRoutes } from './document-routes';
import { inboxRoutes } from './inbox-routes';
import type { DirectService } from './service';

type Deps = { records: RecordService; repositories: RecordRepositories; direct: DirectService; csrf: Csrf };

export function directRoutes({ records, repositories, direct, csrf }: Deps): express.Router {
  const router = express.Router();
  router.use(inboxRoutes({ records, direct, csrf }));
  router.use(documentRoutes({ records, repositories, csrf }));
  return router;
}
