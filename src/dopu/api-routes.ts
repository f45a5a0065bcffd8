/**
 * The DOPU app API (DESIGN.md "DOPU"): `/api/dopu/packages`, behind the bearer gate with a
 * client-credentials token holding the `dopu` capability. The token is checked before the body is
 * read; bodies are JSON up to 5 MB; every refusal is JSON `{ error, error_description }`.
 */
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { appCallerOf, type BearerGate } from '../api/gate';
import { describeIssue } from '../apps/registration';
import { Invalid } from '../errors';
import { HttpError, PayloadTooLarge } from '../http/errors';
import { MAX_PACKAGE_BYTES, dropOffBody, packageListQuery } from './schemas';
import type { DopuService } from './service';

type Deps = { gate: BearerGate; packages: DopuService; issuer: string };

export function dopuApiRoutes({ gate, packages, issuer }: Deps): express.Router {
  const router = express.Router();
  const json = express.json({ limit: MAX_PACKAGE_BYTES, strict: true });
  const jsonOnly: RequestHandler = (req, _res, next) => {
    if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'Send the package as JSON, with Content-Type application/json.');
    next();
  };
  const app = gate.forApps('dopu');

  router.post('/api/dopu/packages', app, jsonOnly, json, async (req, res) => {
    const body = dropOffBody.safeParse(req.body);
    if (!body.success) throw new Invalid(describeIssue(body.error));
    const receipt = await packages.dropOff(appCallerOf(res).clientId, body.data);
    res.status(201).set('Location', `/api/dopu/packages/${receipt.id}`).json(receipt);
  });

  router.get('/api/dopu/packages', app, async (req, res) => {
    const query = packageListQuery.safeParse(req.query);
    if (!query.success) throw new Invalid(describeIssue(query.error));
    const page = await packages.list(appCallerOf(res).clientId, query.data);
    let next: string | undefined;
    if (page.next) {
      const params = new URLSearchParams(Object.entries(req.query).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== 'cursor'));
      params.set('cursor', page.next);
      next = `${issuer}/api/dopu/packages?${params.toString()}`;
    }
    res.json({ packages: page.packages, ...(next ? { next } : {}) });
  });

  router.get('/api/dopu/packages/:id', app, async (req, res) => {
    res.json(await packages.status(appCallerOf(res).clientId, String(req.params.id)));
  });

  router.delete('/api/dopu/packages/:id', app, async (req, res) => {
    res.json(await packages.withdraw(appCallerOf(res).clientId, String(req.params.id)));
  });

  // A body over 5 MB gets a sentence about packages rather than the parser's.
  const tooLarge: ErrorRequestHandler = (error, _req, _res, next) => {
    next((error as { type?: unknown })?.type === 'entity.too.large' ? new PayloadTooLarge('A package can be at most 5 MB of JSON.') : error);
  };
  router.use('/api/dopu', tooLarge);
  return router;
}
