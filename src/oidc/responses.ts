/**
 * Adjustments to what oidc-provider answers:
 * - discovery lists a readable sample of record scopes rather than every combination of letters
 *   (its `discovery` option only fills missing fields) and says subjects are pairwise;
 * - reading a client back (RFC 7592) never returns the stored hash of its secret;
 * - a self-contained access token is handed out as access-tokens.ts presents it;
 * - a method or feature it does not serve on one of its paths gets koa's bare "Not Found": answer
 *   as carevault does elsewhere, JSON for the APIs and a page for browsers.
 */
import type Provider from 'oidc-provider';
import { nextStepFor } from '../http/next-steps';
import { renderPage } from '../http/render';
import { advertisedScopes } from '../rules/scopes';
import { presented } from './access-tokens';
import { answersInJson } from './routes';

export function shapeResponses(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.oidc?.route === 'discovery' && body && typeof body === 'object') {
      Object.assign(body, { scopes_supported: advertisedScopes(), subject_types_supported: ['pairwise'] });
      // oidc-provider puts `sid` in ID tokens only for back-channel logout, which carevault does not offer.
      if (Array.isArray(body.claims_supported)) body.claims_supported = body.claims_supported.filter((claim) => claim !== 'sid');
    }
    if (ctx.oidc?.route === 'token' && typeof body?.access_token === 'string' && body.access_token.includes('.')) {
      body.access_token = presented(body.access_token);
    }
    if (ctx.oidc?.route === 'client' && typeof body?.client_secret === 'string' && body.client_secret.startsWith('sha256:')) {
      delete body.client_secret;
    }
  });

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || ctx.body != null) return;
    const description = `There is no ${ctx.method} ${ctx.path} here.`;
    ctx.status = 404;
    if (answersInJson(ctx.path)) {
      ctx.body = { error: 'invalid_request', error_description: description };
      return;
    }
    ctx.type = 'html';
    ctx.body = await renderPage('pages/error', {
      title: 'Page not found',
      message: description,
      code: 'not_found',
      detail: undefined,
      nextStep: nextStepFor(404, 'not_found'),
    });
  });
}
