/**
 * The express app: security headers, static files, carevault's own routes, then oidc-provider for
 * the paths it owns, then one 404 and one error handler.
 */
import cookieParser from 'cookie-parser';
import express from 'express';
import { accountRoutes } from './accounts/routes';
import type { AccountService } from './accounts/service';
import type { AuditLog } from './audit/service';
import { authorizationRoutes } from './authorizations/routes';
import type { AuthorizationService } from './authorizations/service';
import type { Config } from './config';
import type { Database } from './db';
import { errorHandler, notFound } from './http/error-handler';
import { interactionRoutes } from './interactions/routes';
import { OIDC_ROUTES } from './oidc/provider';
import { isProviderPath, type OidcRuntime } from './oidc/runtime';
import { PUBLIC_DIR } from './paths';
import { recordRoutes } from './records/routes';
import { createCsrf } from './security/csrf';
import { securityHeaders } from './security/headers';

export type AppDeps = {
  config: Config;
  db: Database;
  accounts: AccountService;
  authorizations: AuthorizationService;
  audit: AuditLog;
  oidc: OidcRuntime;
};

export function createApp({ config, db, accounts, authorizations, audit, oidc }: AppDeps): express.Express {
  const app = express();
  const secure = config.issuer.startsWith('https:');
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.use(securityHeaders(secure));

  // oidc-provider parses its own bodies and answers its own errors.
  app.use((req, res, next) => {
    if (!isProviderPath(req.path)) {
      next();
      return;
    }
    oidc.handle(req, res).catch(next);
  });

  app.use('/static', express.static(PUBLIC_DIR, { maxAge: '1h', index: false }));
  app.get('/healthz', async (_req, res) => {
    await db.check();
    res.json({ status: 'ok' });
  });

  const [cookieKey = ''] = oidc.cookieKeys;
  app.use(cookieParser(cookieKey));
  const csrf = createCsrf(cookieKey, secure);

  // Who is signed in, for the layout and the person's pages.
  app.use(async (req, res, next) => {
    const accountId = await oidc.sessions.accountId(req, res, secure);
    res.locals.person = accountId ? await accounts.findPerson(accountId) : undefined;
    next();
  });

  app.use(accountRoutes({ issuer: config.issuer, routes: OIDC_ROUTES, accounts }));
  app.use(interactionRoutes({ interactions: oidc.interactions, accounts, authorizations, csrf }));
  app.use(recordRoutes({ accounts, audit, csrf }));
  app.use(authorizationRoutes({ accounts, authorizations, csrf }));

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
