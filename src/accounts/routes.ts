/**
 * The person's own pages and the ways in and out: `/`, `/login`, `/register`, `/logout`, and
 * `/account/time-zone` (the browser's zone, sent once by a small script, so times are the person's).
 * Signing in from here runs the same authorization flow an app would, as carevault's own client.
 * Home shows what is new since the person's previous visit (messages, items apps, packages and
 * imports added, new connections), then counts this visit as seen.
 */
import { createHash } from 'node:crypto';
import express, { type CookieOptions, type Request } from 'express';
import type { AuditLog, NewsLine } from '../audit/service';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { personOf, requirePerson, signedInPerson } from '../http/require-person';
import { HOME_CLIENT_ID } from '../oidc/home-client';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { randomToken } from '../security/secrets';
import { Invalid } from '../errors';
import { timeZoneForm } from './schemas';
import type { AccountService } from './service';

const SIGNIN_COOKIE = 'cv.signin';

type Deps = {
  issuer: string;
  secure: boolean;
  routes: { authorization: string; end_session: string };
  records: RecordService;
  accounts: Pick<AccountService, 'setTimeZone' | 'visitHome'>;
  audit: Pick<AuditLog, 'newsSince'>;
  csrf: Csrf;
};

/** A line of news as shown: what happened, when (in the person's zone), to which record. */
type ShownNews = { summary: string; when: Date; at: string; recordId: string; recordName: string };

/** The home page's news, in three lists. */
type News = { messages: ShownNews[]; items: ShownNews[]; connections: ShownNews[]; count: number };

function newsOf(lines: readonly NewsLine[], names: ReadonlyMap<string, string>, timeZone: string): News {
  const at = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone });
  const shown = (kind: NewsLine['news']) =>
    lines
      .filter((line) => line.news === kind)
      .map((line) => ({
        summary: line.summary,
        when: line.when,
        at: at.format(line.when),
        recordId: line.recordId,
        recordName: names.get(line.recordId) ?? '',
      }));
  return { messages: shown('message'), items: shown('item'), connections: shown('connection'), count: lines.length };
}

/** Only same-site paths, so `return` cannot become an open redirect. */
function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return '/';
  return value;
}

export function accountRoutes({ issuer, secure, routes, records, accounts, audit, csrf }: Deps): express.Router {
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

  // csrf.issue: a person's page may carry the time-zone script's form (layout.ejs).
  router.get('/', csrf.issue, async (_req, res) => {
    const person = personOf(res);
    if (!person) {
      await sendPage(res, 200, 'pages/home', { title: 'Home', records: [] });
      return;
    }
    const held = await records.recordsOf(person.id);
    const previous = await accounts.visitHome(person.id);
    const names = new Map(held.map((record) => [record.id, record.name]));
    const zone = person.timeZone ?? 'UTC';
    // The first visit has nothing "since": everything there is is on the record pages.
    const news = previous
      ? newsOf(
          await audit.newsSince(
            held.map((record) => record.id),
            previous,
          ),
          names,
          zone,
        )
      : undefined;
    await sendPage(res, 200, 'pages/home', { title: 'Home', records: held, news, several: held.length > 1, zone });
  });

  const form = express.urlencoded({ extended: false, limit: '2kb', parameterLimit: 10 });
  router.post('/account/time-zone', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = timeZoneForm.safeParse(req.body ?? {});
    if (!input.success) throw new Invalid(firstMessage(input.error));
    await accounts.setTimeZone(signedInPerson(res).id, input.data.time_zone);
    // A form the person sent (a navigation) goes back to its page; the layout's script needs no page.
    if (req.get('sec-fetch-mode') === 'navigate') res.redirect(303, safeReturnPath(input.data.return));
    else res.status(204).end();
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
