/**
 * The app APIs over HTTP, built from the features' operation tables: each operation behind the
 * bearer gate with its capability, then its body rules, then its work; and the OpenAPI document
 * of the same table at `/api/openapi.json` — public (no token; any origin may read it) and
 * cacheable, as it changes only with the server's version.
 */
import cors from 'cors';
import express, { type RequestHandler } from 'express';
import { appCallerOf, type BearerGate } from './gate';
import { readJson } from './input';
import { OPENAPI_PATH, openApiDocument } from './openapi';
import type { AppOperation } from './operations';

type Deps = { gate: BearerGate; issuer: string; tokenEndpoint: string; version: string; operations: readonly AppOperation[] };

export function appApiRoutes({ gate, issuer, tokenEndpoint, version, operations }: Deps): express.Router {
  const router = express.Router();
  const document = openApiDocument({ issuer, tokenEndpoint, version, operations });
  router.get(OPENAPI_PATH, cors(), (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').json(document);
  });

  for (const operation of operations) {
    const answer: RequestHandler = async (req, res) => {
      const reply = await operation.run({
        caller: appCallerOf(res),
        params: req.params,
        query: req.query,
        body: req.body,
        url: `${issuer}${req.baseUrl}${req.path}`,
      });
      if (reply.location) res.set('Location', reply.location);
      res.status(reply.status).json(reply.body);
    };
    router[operation.method](operation.path, gate.forApps(operation.capability), ...(operation.body ? readJson(operation.body) : []), answer);
  }
  return router;
}
