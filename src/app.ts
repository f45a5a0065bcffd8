/**
 * The request listener: the front (http/front.ts) for every request, then the express app — static
 * files, oidc-provider's browser endpoints, the FHIR API behind the bearer gate, the person's pages,
 * the features' routes, then one 404 and one error handler.
 */
import type { RequestListener } from 'node:http';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express from 'express';
import { accountRoutes } from './accounts/routes';
import { appApiRoutes } from './api/routes';
import { authorizationRoutes } from './authorizations/routes';
import type { Services } from './compose';
import type { Feature } from './feature';
import { fhirLimits } from './fhir/limits';
import { fhirRoutes } from './fhir/routes';
import { smartConfiguration, type Endpoints } from './fhir/smart-configuration';
import { RETRY_AFTER_SECONDS } from './db/unavailable';
import { errorHandler, notFound } from './http/error-handler';
import { createFront, type FrontStep } from './http/front';
import { requestLog } from './http/request-log';
import { setNavigationCounts } from './http/render';
import { setPerson } from './http/require-person';
import { clientAddress } from './http/client-address';
import { interactionRoutes } from './interactions/routes';
import type { Metrics } from './metrics/registry';
import { timeRequests } from './metrics/requests';
import { operationsRoutes } from './metrics/routes';
import { postAsGet } from './oidc/post-as-get';
import { OIDC_ROUTES, isAppEndpoint, isProviderPath } from './oidc/routes';
import type { OidcRuntime } from './oidc/runtime';
import { PUBLIC_DIR, VERSION } from './paths';
import { recordRoutes } from './records/routes';
import { createRecordTransfer } from './records/transfer';
import { recordTransferRoutes } from './records/transfer-routes';
import { createCsrf } from './security/csrf';
import { authorizationRate } from './security/authorization-rate';
import { securityHeaders } from './security/headers';
import { noStore } from './security/no-store';

export type AppDeps = { services: Services; oidc: OidcRuntime; features: readonly Feature[]; metrics?: Metrics | undefined };

/**
 * What answers every request: the front (request log, metrics, security headers, no-store), then
 * oidc-provider for the endpoints apps call, else the express app.
 */
export function createRequestListener(deps: AppDeps): RequestListener {
  const { config } = deps.services;
  const steps: FrontStep[] = [requestLog, ...(deps.metrics ? [timeRequests(deps.metrics)] : []), securityHeaders(config.secure), noStore('/static')];
  return createFront({ steps, direct: isAppEndpoint, provider: deps.oidc.handle, app: createApp(deps) });
}

function createApp({ services, oidc, features, metrics }: AppDeps): express.Express {
  const { config, db, accounts, records, repositories, authorizations, audit, gate, limits } = services;
  const app = express();
  app.disable('x-powered-by');
  // Every answer but the static files is `no-store` (security/no-store.ts), so a body hash as ETag
  // would never be revalidated: not computed. FHIR resources carry their version as ETag.
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);

  // A form POST at the authorization and end-session endpoints becomes the equivalent GET.
  app.use(postAsGet([OIDC_ROUTES.authorization, OIDC_ROUTES.end_session]));
  // Anonymous work is bounded: authorization requests per address, before an interaction is stored.
  app.use(OIDC_ROUTES.authorization, authorizationRate(limits.rate('authorize-address'), clientAddress));
  // oidc-provider parses its own bodies and answers its own errors.
  app.use((req, res, next) => {
    if (!isProviderPath(req.path)) {
      next();
      return;
    }
    oidc.handle(req, res).catch(next);
  });

  app.use('/static', express.static(PUBLIC_DIR, { maxAge: '1h', index: false }));

  const endpoints = endpointsOf(config);
  app.get('/.well-known/smart-configuration', cors(), (_req, res) => {
    res.json(smartConfiguration(endpoints));
  });
  app.use(
    '/fhir',
    fhirRoutes({
      endpoints,
      repositories,
      gate,
      version: VERSION,
      limits: fhirLimits(config, limits.rate('fhir-large-bundles-app')),
      parts: features.flatMap((feature) => (feature.fhir ? [feature.fhir] : [])),
    }),
  );
  app.get('/healthz', async (_req, res) => {
    try {
      await db.check();
      res.json({ status: 'ok' });
    } catch {
      res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      res.status(503).json({ status: 'unavailable', error_description: 'The database does not answer.' });
    }
  });
  app.use(operationsRoutes({ db, config, metrics }));
  // The app APIs need no cookie or session: they are answered before either is read.
  app.use(
    appApiRoutes({
      gate,
      issuer: config.issuer,
      tokenEndpoint: endpoints.token,
      version: VERSION,
      operations: features.flatMap((feature) => feature.api ?? []),
    }),
  );

  const [cookieKey = ''] = oidc.cookieKeys;
  app.use(cookieParser(cookieKey));
  // cookie-parser turns `j:`-prefixed values into objects; carevault's cookies are all strings.
  app.use((req, _res, next) => {
    for (const jar of [req.cookies, req.signedCookies] as Record<string, unknown>[]) {
      for (const [name, value] of Object.entries(jar ?? {})) if (typeof value !== 'string') delete jar[name];
    }
    next();
  });
  const csrf = createCsrf(cookieKey, config.secure);

  const unread = features.flatMap((feature) => feature.unread ?? []);
  // Who is signed in, for the layout and the person's pages (and the features that note where).
  const sessionsSeen = features.flatMap((feature) => (feature.sessionSeen ? [feature.sessionSeen] : []));
  app.use(async (req, res, next) => {
    const signedIn = await oidc.sessions.signedIn(req, res);
    const person = signedIn ? await accounts.findPerson(signedIn.accountId) : undefined;
    setPerson(res, person, signedIn?.sessionUid);
    if (person && signedIn) {
      for (const seen of sessionsSeen) await seen({ personId: person.id, sessionUid: signedIn.sessionUid, userAgent: req.get('user-agent') });
    }
    if (person && unread.length > 0) {
      setNavigationCounts(res, async () => {
        const held = await records.recordIdsOf(person.id);
        const counts = await Promise.all(unread.map(async (count) => [count.href, await count.count(held)] as const));
        return Object.fromEntries(counts);
      });
    }
    next();
  });

  const prompts = new Map(features.flatMap((feature) => [...(feature.prompts ?? [])]));
  app.use(accountRoutes({ issuer: config.issuer, secure: config.secure, routes: OIDC_ROUTES, records, accounts, audit, csrf }));
  const stepsOver = features.flatMap((feature) => (feature.stepOver ? [feature.stepOver] : []));
  app.use(interactionRoutes({ interactions: oidc.interactions, accounts, records, authorizations, csrf, prompts, stepsOver }));
  app.use(recordRoutes({ records, repositories, audit, csrf, panels: features.flatMap((feature) => feature.recordPanels ?? []) }));
  app.use(
    recordTransferRoutes({
      records,
      transfer: createRecordTransfer(repositories, audit, endpoints.fhirBase, limits.rate('imports-person')),
      csrf,
      fileImports: features.flatMap((feature) => feature.fileImports ?? []),
    }),
  );
  app.use(authorizationRoutes({ records, authorizations, csrf }));
  for (const feature of features) if (feature.routes) app.use(feature.routes({ csrf }));

  app.use(notFound);
  app.use(errorHandler);
  return app;
}

/** The public addresses of carevault's endpoints, for the SMART and FHIR discovery documents. */
function endpointsOf(config: Services['config']): Endpoints {
  const at = (path: string) => `${config.issuer}${path}`;
  return {
    issuer: config.issuer,
    fhirBase: at('/fhir'),
    authorization: at(OIDC_ROUTES.authorization),
    token: at(OIDC_ROUTES.token),
    jwks: at(OIDC_ROUTES.jwks),
    introspection: at(OIDC_ROUTES.introspection),
    revocation: at(OIDC_ROUTES.revocation),
    userinfo: at(OIDC_ROUTES.userinfo),
    registration: config.registrationInitialAccessToken ? at(OIDC_ROUTES.registration) : undefined,
    management: at('/apps'),
  };
}
