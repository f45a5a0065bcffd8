/**
 * `/fhir/Subscription` and the topic, mounted inside the FHIR API (feature.ts: FhirPart), so they
 * share its CORS, formats and OperationOutcome errors: an app with the rule
 * `patient/Subscription.cruds` creates, reads, searches, updates and deletes its own Subscriptions
 * in the record its token reaches, and asks `$status`.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/
 */
import express, { type RequestHandler, type Response } from 'express';
import { InsufficientScope } from '../api/errors';
import { recordCallerOf, type BearerGate } from '../api/gate';
import { InvalidResource } from '../fhir/errors';
import { SUBSCRIPTION_SCOPE } from '../rules/scopes';
import { notificationBundle, subscriptionResource, topicDescription, type StoredSubscription } from './resource';
import type { SubscriptionOwner, SubscriptionService } from './service';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

export function subscriptionRoutes({
  gate,
  subscriptions,
  fhirBase,
}: {
  gate: BearerGate;
  subscriptions: SubscriptionService;
  fhirBase: string;
}): express.Router {
  const router = express.Router();
  const json = express.json({ type: ['application/fhir+json', 'application/json'], limit: '64kb', strict: true });
  const jsonOnly: RequestHandler = (req, res, next) => {
    if (req.is(['application/fhir+json', 'application/json'])) {
      next();
      return;
    }
    send(res, 415, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'Send FHIR resources as JSON, with Content-Type application/fhir+json.' }],
    });
  };
  /** The app and record of a token allowed to keep Subscriptions; 403 insufficient_scope otherwise. */
  const owner = (res: Response): SubscriptionOwner => {
    const caller = recordCallerOf(res);
    if (!caller.scopes.includes(SUBSCRIPTION_SCOPE)) {
      throw new InsufficientScope('This app was not allowed to be notified when the record changes.', SUBSCRIPTION_SCOPE, caller.scheme);
    }
    return { clientId: caller.clientId, recordId: caller.recordId, grantId: caller.grantId };
  };
  const idOf = (value: unknown): string => {
    const id = String(value);
    if (!ID.test(id)) throw new InvalidResource(`${id} is not a FHIR id.`);
    return id;
  };
  const sendSubscription = (res: Response, status: number, subscription: StoredSubscription) => {
    res.set('ETag', `W/"${subscription.versionId}"`);
    res.set('Last-Modified', subscription.lastUpdated.toUTCString());
    send(res, status, subscriptionResource(subscription, fhirBase));
  };
  const ifMatch = (header: string | undefined): number | undefined => {
    if (header === undefined) return undefined;
    const match = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
    if (!match) throw new InvalidResource('If-Match must be an ETag like W/"1".');
    return Number(match[1]);
  };

  router.get('/SubscriptionTopic/record-changed', (_req, res) => send(res, 200, topicDescription(fhirBase)));

  router.post('/Subscription', gate.forRecords, jsonOnly, json, async (req, res) => {
    const subscription = await subscriptions.create(owner(res), req.body);
    res.set('Location', `${fhirBase}/Subscription/${subscription.id}/_history/${subscription.versionId}`);
    sendSubscription(res, 201, subscription);
  });

  router.get('/Subscription', gate.forRecords, async (_req, res) => {
    const found = await subscriptions.list(owner(res));
    send(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      link: [{ relation: 'self', url: `${fhirBase}/Subscription` }],
      entry: found.map((subscription) => ({
        fullUrl: `${fhirBase}/Subscription/${subscription.id}`,
        resource: subscriptionResource(subscription, fhirBase),
        search: { mode: 'match' },
      })),
    });
  });

  router.get('/Subscription/:id/:operation', gate.forRecords, async (req, res, next) => {
    if (req.params.operation !== '$status') {
      next();
      return;
    }
    const status = await subscriptions.status(owner(res), idOf(req.params.id));
    send(res, 200, notificationBundle(status, new Date(), 'searchset'));
  });

  router.get('/Subscription/:id', gate.forRecords, async (req, res) => {
    sendSubscription(res, 200, await subscriptions.read(owner(res), idOf(req.params.id)));
  });

  router.put('/Subscription/:id', gate.forRecords, jsonOnly, json, async (req, res) => {
    const id = idOf(req.params.id);
    sendSubscription(res, 200, await subscriptions.update(owner(res), id, req.body, ifMatch(req.get('If-Match'))));
  });

  router.delete('/Subscription/:id', gate.forRecords, async (req, res) => {
    await subscriptions.remove(owner(res), idOf(req.params.id));
    res.status(204).end();
  });
  return router;
}
