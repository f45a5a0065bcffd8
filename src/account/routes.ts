/**
 * The account's pages: `/account` (the signed-in person's **Name**, **Email** — a change confirmed
 * by a link to the new address — **Change password**, **Signed-in devices** with **Sign out** each and
 * **Sign out everywhere**, **Send the link again** while the email is not confirmed, and **Email me
 * when a message arrives**, open once it is),
 * `/account/verify?token=…` (the verification link), and recovery — `/account/recover` (field
 * **Email**, button **Send link**) → the mailed `/account/reset?token=…` (field **New password**,
 * button **Save password**) → `/account/reset/done`, which lists the apps that kept offline access.
 * Two-step sign-in: **Add a passkey** (the browser's ceremony by /static/passkeys.js, options from
 * `/account/passkeys/options`), each passkey's **Remove** and the authenticator app's removal
 * confirmed with the password on their own page, the app's setup and the recovery codes.
 * Every form answers with a redirect to a page describing the state; every page is `no-store`.
 */
import express, { type Request, type Response } from 'express';
import { Conflict, DomainError, NotFound, STATUS_OF, TooManyAttempts } from '../errors';
import { firstMessage } from '../http/forms';
import { isUuid } from '../ids';
import { sendPage } from '../http/render';
import { requirePerson, sessionUidOf, signedInPerson } from '../http/require-person';
import { clientAddress } from '../http/client-address';
import type { Csrf } from '../security/csrf';
import type { AccountChanges } from './changes';
import type { MessageMail } from './message-mail';
import type { Passkeys } from './passkeys';
import {
  deviceForm,
  doneQuery,
  emailForm,
  messageMailForm,
  nameForm,
  passkeyAddForm,
  passwordForm,
  recoverForm,
  removeFactorForm,
  resetForm,
  tokenQuery,
  twoStepCodeForm,
} from './schemas';
import type { TwoStep } from './two-step';
import type { AccountLinks } from './service';
import { ACCOUNT_DONE, LINK_ENDED, RECOVERY_SENT, RESET_LINK_MINUTES, SIGNED_OUT_HERE } from './words';

/** Remembers, for the page after a reset, whose password changed (signed; the person is signed out by then). */
const RESET_COOKIE = 'cv.reset';

/** Carries new recovery codes, sealed, from the form that made them to the one page that shows them. */
const CODES_COOKIE = 'cv.codes';

type Deps = {
  links: AccountLinks;
  changes: AccountChanges;
  messageMail: MessageMail;
  twoStep: TwoStep;
  passkeys: Passkeys;
  csrf: Csrf;
  secure: boolean;
  /** Seals and opens what a cookie carries for one person (recovery codes on their way to the page). */
  sealFor: { seal(personId: string, text: string): string; open(personId: string, sealed: string): string | undefined };
};

/** A refusal to show above a form, or `undefined` for an error nobody expected. */
function refusalOf(res: Response, error: unknown): { status: number; message: string } | undefined {
  if (!(error instanceof DomainError)) return undefined;
  if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
  return { status: STATUS_OF[error.kind], message: error.message };
}

export function accountPageRoutes({ links, changes, messageMail, twoStep, passkeys, csrf, secure, sealFor }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });
  // A new passkey's form carries the browser's answer: its attestation, a few kilobytes.
  const passkeyForm = express.urlencoded({ extended: false, limit: '40kb', parameterLimit: 10 });
  const resetCookie = { httpOnly: true, sameSite: 'lax' as const, secure, signed: true, path: '/account/reset' };
  const codesCookie = { httpOnly: true, sameSite: 'lax' as const, secure, signed: true, path: '/account/two-step/codes' };

  router.use('/account', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  /** The account page: `done` says what the last form did; `error` and `typed` answer a refused one. */
  type Shown = { done?: string; error?: string; typed?: { name?: string; email?: string } };
  const showAccount = async (res: Response, status: number, shown: Shown = {}) => {
    const person = signedInPerson(res);
    const lastSent = person.emailVerified ? undefined : await links.lastVerificationSent(person);
    const devices = await changes.devices(person.id, sessionUidOf(res));
    const messageMailOn = await messageMail.isOn(person);
    await sendPage(res, status, 'account/show', {
      title: 'Your account',
      account: person,
      lastSent,
      devices,
      messageMailOn,
      twoStep: await twoStep.state(person.id),
      passkeys: await passkeys.list(person.id),
      done: shown.done,
      error: shown.error,
      typed: { name: shown.typed?.name ?? person.name, email: shown.typed?.email ?? '' },
    });
  };

  /** Runs a form's change; a refusal re-shows the page with its words and status, else 303 to `/account?done=…`. */
  const answer = async (res: Response, change: () => Promise<void>, done: string, typed?: Shown['typed']) => {
    try {
      await change();
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      await showAccount(res, refusal.status, { error: refusal.message, typed });
      return;
    }
    res.redirect(303, done);
  };

  /** A form's fields (a body that is not a form reads as empty). */
  const fields = (req: Request) => (req.body ?? {}) as Record<string, unknown>;
  const text = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');

  const showLinkEnded = (res: Response) =>
    sendPage(res, 404, 'pages/message', {
      title: 'This link no longer works',
      message: LINK_ENDED,
      link: { href: '/account/recover', text: 'Ask for a new link' },
    });

  router.get('/account', requirePerson, csrf.issue, async (req, res) => {
    const { done } = doneQuery.parse(req.query);
    await showAccount(res, 200, { done: done ? ACCOUNT_DONE[done] : undefined });
  });

  router.post('/account/verify/resend', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    await answer(res, () => links.resend(signedInPerson(res)), '/account');
  });

  router.post('/account/name', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = nameForm.safeParse(fields(req));
    const typed = { name: text(fields(req).name, 200) };
    if (!input.success) return showAccount(res, 400, { error: firstMessage(input.error), typed });
    return answer(res, () => changes.rename(signedInPerson(res), input.data.name), '/account?done=name', typed);
  });

  router.post('/account/email', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = emailForm.safeParse(fields(req));
    const typed = { email: text(fields(req).email, 254) };
    if (!input.success) return showAccount(res, 400, { error: firstMessage(input.error), typed });
    return answer(res, () => changes.askEmailChange(signedInPerson(res), input.data.email), '/account?done=email', typed);
  });

  router.post('/account/password', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = passwordForm.safeParse(fields(req));
    if (!input.success) return showAccount(res, 400, { error: firstMessage(input.error) });
    return answer(res, () => changes.changePassword(signedInPerson(res), input.data.current, input.data.password, sessionUidOf(res)), '/account?done=password');
  });

  router.post('/account/message-mail', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = messageMailForm.safeParse(fields(req));
    if (!input.success) return showAccount(res, 400, { error: firstMessage(input.error) });
    const on = input.data.mail === 'on';
    return answer(res, () => messageMail.set(signedInPerson(res), on), `/account?done=message-mail-${input.data.mail}`);
  });

  router.post('/account/devices/sign-out', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = deviceForm.safeParse(fields(req));
    if (!input.success) return showAccount(res, 400, { error: firstMessage(input.error) });
    const here = input.data.session === sessionUidOf(res);
    return answer(res, () => changes.signOut(signedInPerson(res).id, input.data.session), here ? '/account/signed-out' : '/account?done=signed-out');
  });

  router.post('/account/devices/sign-out-everywhere', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    await changes.signOutEverywhere(signedInPerson(res).id);
    res.redirect(303, '/account/signed-out');
  });

  /** Sends new recovery codes to the page that shows them once. */
  const toCodesPage = (res: Response, personId: string, codes: readonly string[]) => {
    res.cookie(CODES_COOKIE, sealFor.seal(personId, codes.join(' ')), { ...codesCookie, maxAge: 10 * 60_000 });
    res.redirect(303, '/account/two-step/codes');
  };

  const showSetup = async (res: Response, status: number, error?: string) => {
    const setup = await twoStep.setup(signedInPerson(res));
    if (!setup) return res.redirect(303, '/account');
    return sendPage(res, status, 'account/two-step-app', { title: 'Set up an authenticator app', setup, error });
  };

  router.post('/account/two-step/app', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    await answer(res, () => twoStep.startSetup(signedInPerson(res)), '/account/two-step/app');
  });

  router.get('/account/two-step/app', requirePerson, csrf.issue, async (_req, res) => {
    await showSetup(res, 200);
  });

  router.post('/account/two-step/app/confirm', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = twoStepCodeForm.safeParse(fields(req));
    if (!input.success) return showSetup(res, 400, firstMessage(input.error));
    const person = signedInPerson(res);
    try {
      return toCodesPage(res, person.id, await twoStep.confirm(person, input.data.code));
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      return showSetup(res, refusal.status, refusal.message);
    }
  });

  router.post('/account/passkeys/options', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ publicKey: await passkeys.registrationOptions(signedInPerson(res)) });
  });

  /** Options for the signed-in person to confirm it is them with one of their passkeys (closing the account). */
  router.post('/account/passkeys/check/options', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ publicKey: await passkeys.signIn.options({ personId: signedInPerson(res).id }) });
  });

  router.post('/account/passkeys', requirePerson, passkeyForm, csrf.issue, csrf.verify, async (req, res) => {
    const input = passkeyAddForm.safeParse(fields(req));
    if (!input.success) return showAccount(res, 400, { error: firstMessage(input.error) });
    const person = signedInPerson(res);
    try {
      const codes = await passkeys.add(person, input.data.name, input.data.credential);
      return codes ? toCodesPage(res, person.id, codes) : res.redirect(303, '/account?done=passkey-added');
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      return showAccount(res, refusal.status, { error: refusal.message });
    }
  });

  /** The page that confirms removing a second step: a passkey (`passkey`) or the authenticator app. */
  const showRemove = async (res: Response, status: number, passkey: { id: string; name: string } | undefined, error?: string) =>
    sendPage(res, status, 'account/remove-factor', {
      title: passkey ? 'Remove a passkey' : 'Remove the authenticator app',
      passkey,
      action: passkey ? `/account/passkeys/${passkey.id}/remove` : '/account/two-step/app/remove',
      error,
    });

  const passkeyOf = async (res: Response, id: unknown) => (typeof id === 'string' && isUuid(id) ? passkeys.find(signedInPerson(res).id, id) : undefined);

  router.get('/account/passkeys/:id/remove', requirePerson, csrf.issue, async (req, res) => {
    const passkey = await passkeyOf(res, req.params.id);
    if (!passkey) return res.redirect(303, '/account?done=passkey-removed');
    return showRemove(res, 200, passkey);
  });

  router.post('/account/passkeys/:id/remove', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const passkey = await passkeyOf(res, req.params.id);
    if (!passkey) return res.redirect(303, '/account?done=passkey-removed');
    const input = removeFactorForm.safeParse(fields(req));
    if (!input.success) return showRemove(res, 400, passkey, firstMessage(input.error));
    try {
      const stillOn = await passkeys.remove(signedInPerson(res), passkey.id, input.data.password);
      return res.redirect(303, stillOn ? '/account?done=passkey-removed' : '/account?done=two-step-off');
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      return showRemove(res, refusal.status, passkey, refusal.message);
    }
  });

  router.get('/account/two-step/app/remove', requirePerson, csrf.issue, async (_req, res) => {
    if (!(await twoStep.state(signedInPerson(res).id)).app) return res.redirect(303, '/account');
    return showRemove(res, 200, undefined);
  });

  router.post('/account/two-step/app/remove', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = removeFactorForm.safeParse(fields(req));
    if (!input.success) return showRemove(res, 400, undefined, firstMessage(input.error));
    try {
      const stillOn = await twoStep.removeApp(signedInPerson(res), input.data.password, input.data.code);
      return res.redirect(303, stillOn ? '/account?done=app-removed' : '/account?done=two-step-off');
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      return showRemove(res, refusal.status, undefined, refusal.message);
    }
  });

  router.post('/account/two-step/recovery-codes', requirePerson, form, csrf.issue, csrf.verify, async (_req, res) => {
    const person = signedInPerson(res);
    try {
      toCodesPage(res, person.id, await twoStep.renewRecoveryCodes(person));
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      await showAccount(res, refusal.status, { error: refusal.message });
    }
  });

  router.get('/account/two-step/codes', requirePerson, async (req, res) => {
    const person = signedInPerson(res);
    const sealed: unknown = req.signedCookies?.[CODES_COOKIE];
    const opened = typeof sealed === 'string' ? sealFor.open(person.id, sealed) : undefined;
    res.clearCookie(CODES_COOKIE, codesCookie);
    await sendPage(res, 200, 'account/recovery-codes', { title: 'Your recovery codes', codes: opened ? opened.split(' ') : undefined });
  });

  router.get('/account/signed-out', async (_req, res) => {
    await sendPage(res, 200, 'pages/message', { title: 'You are signed out', message: SIGNED_OUT_HERE, link: { href: '/login', text: 'Sign in again' } });
  });

  router.get('/account/verify', async (req, res) => {
    let email: string;
    try {
      email = await links.verify(tokenQuery.parse(req.query).token);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      const taken = error instanceof Conflict;
      await sendPage(res, taken ? 409 : 404, 'pages/message', {
        title: taken ? 'This email is taken' : 'This link no longer works',
        message: taken ? error.message : LINK_ENDED,
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

  const showReset = async (res: Response, status: number, token: string, error?: string) =>
    sendPage(res, status, 'account/reset', {
      title: 'Choose a new password',
      token,
      needsCode: await links.resetNeedsSecondStep(token),
      passkey: await links.resetOffersPasskey(token),
      error,
    });

  router.get('/account/reset', csrf.issue, async (req, res) => {
    const { token } = tokenQuery.parse(req.query);
    if (!(await links.resetLinkIsLive(token))) return showLinkEnded(res);
    return showReset(res, 200, token);
  });

  /** Options for a passkey as the second step of a reset: the live link names the person. */
  router.post('/account/reset/passkey/options', form, csrf.issue, csrf.verify, async (req, res) => {
    const token = text(fields(req).token, 100);
    const options = await links.resetPasskeyOptions(token);
    if (!options) {
      res.status(404).json({ error: 'not_found', error_description: LINK_ENDED });
      return;
    }
    res.set('Cache-Control', 'no-store').json({ publicKey: options });
  });

  router.post('/account/reset', passkeyForm, csrf.issue, csrf.verify, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token.slice(0, 100) : '';
    const input = resetForm.safeParse(body);
    if (!input.success) {
      if (!(await links.resetLinkIsLive(token))) return showLinkEnded(res);
      return showReset(res, 400, token, firstMessage(input.error));
    }
    let personId: string;
    try {
      personId = await links.reset(input.data.token, input.data.password, { code: input.data.code, passkey: input.data.credential || undefined });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error instanceof NotFound) return showLinkEnded(res);
      const refusal = refusalOf(res, error);
      return showReset(res, refusal?.status ?? 400, input.data.token, refusal?.message);
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
