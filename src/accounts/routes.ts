/**
 * The person's own pages and the ways in and out: `/`, `/login`, `/register`, `/logout`.
 * Signing in from here runs the same authorization flow an app would, as carevault's own client.
 */
import { createHash } from 'node:crypto';
import express, { type CookieOptions, type Request } from 'express';
import { sendPage } from '../http/render';
import { personOf } from '../http/require-person';
import { HOME_CLIENT_ID } from '../oidc/home-client';
import type { RecordService } from '../records/service';
import { randomToken } from '../security/secrets';

const SIGNIN_COOKIE = 'cv.signin';

type Deps = {
  issuer: string;
  secure: boolean;
  routes: { authorization: string; end_session: string };
  records: RecordService;
};

/** Only same-site paths, so `return` cannot become an open redirect. */
function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return '/';
  return value;
}

export function accountRoutes({ issuer, secure, routes, records }: Deps): express.Router {
  const router = express.Router();
  const cookie: CookieOptions = { httpOnly: true, sameSite: 'lax', secure, signed: true, maxAge: 3600_000, path: '/' };

  const startSignIn = (req: Request, res: express.Response, signup: boolean) => {
    const state = randomToken(16);
    const returnTo = safeReturnPath(req.query.return);
    res.cookie(SIGNIN_COOKIE, JSON.stringify({ state, returnTo }), cookie);
    // The code is never exchanged (the session is what the home pages need), but PKCE is required of
    // every client, so a fresh challenge is sent.
    const challenge = createHash('sha256').update(randomToken()).digest('base64url');
    const url = new URL(`${issuer}${routes.authorization}`);
    url.search = new URLSearchParams({
      client_id: HOME_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${issuer}/signed-in`,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(signup ? { screen_hint: 'signup' } : {}),
    }).toString();
    res.redirect(303, url.toString());
  };

  router.get('/', async (_req, res) => {
    const person = personOf(res);
    await sendPage(res, 200, 'pages/home', { title: 'Home', records: person ? await records.recordsOf(person.id) : [] });
  });

  router.get('/login', (req, res) => startSignIn(req, res, false));
  router.get('/register', (req, res) => startSignIn(req, res, true));

  router.get('/signed-in', (req, res) => {
    let expected: { state?: unknown; returnTo?: unknown } = {};
    try {
      expected = JSON.parse(String(req.signedCookies?.[SIGNIN_COOKIE] ?? '{}')) as typeof expected;
    } catch {
      expected = {};
    }
    res.clearCookie(SIGNIN_COOKIE, { ...cookie, maxAge: undefined });
    const stateMatches = typeof req.query.state === 'string' && req.query.state === expected.state;
    res.redirect(303, stateMatches && typeof req.query.code === 'string' ? safeReturnPath(expected.returnTo) : '/');
  });

  router.get('/logout', (_req, res) => {
    res.redirect(303, `${issuer}${routes.end_session}`);
  });

  return router;
}
