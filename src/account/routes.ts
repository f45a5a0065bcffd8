/**
 * The account's pages: `/account` (the signed-in person's email and **Send the link again**),
 * `/account/verify?token=…` (the verification link), and recovery — `/account/recover` (field
 * **Email**, button **Send link**) → the mailed `/account/reset?token=…` (field **New password**,
 * button **Save password**) → `/account/reset/done`, which lists the apps that kept offline access.
 * Every form answers with a redirect to a page describing the state; every page is `no-store`.
 */
import express, { type Request, type Response } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { firstMessage } from '../http/forms';
import { isUuid } from '../ids';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import { clientAddress } from '../interactions/routes';
import type { Csrf } from '../security/csrf';
import { recoverForm, resetForm, tokenQuery } from './schemas';
import type { AccountLinks } from './service';
import { LINK_ENDED, RECOVERY_SENT, RESET_LINK_MINUTES } from './words';

/** Remembers, for the page after a reset, whose password changed (signed; the person is signed out by then). */
const RESET_COOKIE = 'cv.reset';

type Deps = { links: AccountLinks; csrf: Csrf; secure: boolean };

/** A refusal to show above a form, or `undefined` for an error nobody expected. */
function refusalOf(res: Response, error: unknown): { status: number; message: string } | undefined {
  if (!(error instanceof DomainError)) return undefined;
  if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
  return { status: STATUS_OF[error.kind], message: error.message };
}

export function accountPageRoutes({ links, csrf, secure }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });
  const resetCookie = { httpOnly: true, sameSite: 'lax' as const, secure, signed: true, path: '/account/reset' };

  router.use('/account', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  const showAccount = async (res: Response, status: number, error?: string) => {
    const person = signedInPerson(res);
    const lastSent = person.emailVerified ? undefined : await links.lastVerificationSent(person);
    await sendPage(res, status, 'account/show', { title: 'Your account', account: person, lastSent, error });
  };

  const showLinkEnded = (res: Response) =>
    sendPage(res, 404, 'pages/message', {
      title: 'This link no longer works',
      message: LINK_ENDED,
      link: { href: '/account/recover', text: 'Ask for a new link' },
    });

  router.get('/account', requirePerson, csrf.issue, async (_req, res) => showAccount(res, 200));

  router.post('/account/verify/resend', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    try {
      await links.resend(signedInPerson(res));
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      await showAccount(res, refusal.status, refusal.message);
      return;
    }
    res.redirect(303, '/account');
  });

  router.get('/account/verify', async (req, res) => {
    let email: string;
    try {
      email = await links.verify(tokenQuery.parse(req.query).token);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      await sendPage(res, 404, 'pages/message', {
        title: 'This link no longer works',
        message: LINK_ENDED,
        link: { href: '/account', text: 'Go to your account' },
      });
      return;
    }
    await sendPage(res, 200, 'pages/message', {
      title: 'Email confirmed',
      message: `Thank you: ${email} is confirmed.`,
      link: { href: '/', text: 'Go to carevault' },
    });
  });

  const showRecover = (res: Response, status: number, email: string, error?: string) =>
    sendPage(res, status, 'account/recover', { title: 'Forgot your password?', email, minutes: RESET_LINK_MINUTES, error });

  router.get('/account/recover', csrf.issue, async (_req, res) => showRecover(res, 200, ''));

  router.post('/account/recover', form, csrf.issue, csrf.verify, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const input = recoverForm.safeParse(body);
    const typed = typeof body.email === 'string' ? body.email.slice(0, 254) : '';
    if (!input.success) {
      await showRecover(res, 400, typed, firstMessage(input.error));
      return;
    }
    try {
      await links.recover(input.data.email, clientAddress(req));
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      await showRecover(res, refusal.status, typed, refusal.message);
      return;
    }
    res.redirect(303, '/account/recover/sent');
  });

  router.get('/account/recover/sent', async (_req, res) => {
    await sendPage(res, 200, 'pages/message', { title: 'Check your email', message: RECOVERY_SENT, link: { href: '/login', text: 'Back to sign in' } });
  });

  const showReset = (res: Response, status: number, token: string, error?: string) =>
    sendPage(res, status, 'account/reset', { title: 'Choose a new password', token, error });

  router.get('/account/reset', csrf.issue, async (req, res) => {
    const { token } = tokenQuery.parse(req.query);
    if (!(await links.resetLinkIsLive(token))) return showLinkEnded(res);
    return showReset(res, 200, token);
  });

  router.post('/account/reset', form, csrf.issue, csrf.verify, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token.slice(0, 100) : '';
    const input = resetForm.safeParse(body);
    if (!input.success) {
      if (!(await links.resetLinkIsLive(token))) return showLinkEnded(res);
      return showReset(res, 400, token, firstMessage(input.error));
    }
    let personId: string;
    try {
      personId = await links.reset(input.data.token, input.data.password);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      return showLinkEnded(res);
    }
    res.cookie(RESET_COOKIE, personId, { ...resetCookie, maxAge: 15 * 60_000 });
    return res.redirect(303, '/account/reset/done');
  });

  router.get('/account/reset/done', async (req: Request, res) => {
    const personId = req.signedCookies?.[RESET_COOKIE];
    const known = typeof personId === 'string' && isUuid(personId);
    const apps = known ? await links.offlineApps(personId) : [];
    await sendPage(res, 200, 'account/reset-done', { title: 'Your password is changed', known, apps });
  });

  return router;
}
