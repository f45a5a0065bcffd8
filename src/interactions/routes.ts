/**
 * Web-based authorization pages, inside an oidc-provider interaction (all under /interaction/:uid,
 * where its cookie is scoped): sign-in and registration for the `login` prompt, the record picker
 * and rules for `consent`, and the pages of carevault's own prompts, registered by name.
 */
import express, { type Request, type Response } from 'express';
import { firstMessage } from '../http/forms';
import { registrationForm, signInForm } from '../accounts/schemas';
import type { AccountService } from '../accounts/service';
import type { AuthorizationService } from '../authorizations/service';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import type { Csrf } from '../security/csrf';
import { sendPage } from '../http/render';
import { personOf } from '../http/require-person';
import type { Interactions } from '../oidc/interactions';
import type { RecordService } from '../records/service';
import { allowImageFrom } from '../security/image-sources';
import { consentDecision } from './consent';
import { AlreadyAnswered, InteractionExpired, type PendingInteraction } from './pending';

/** The page of a prompt of carevault's own (a step the flow cannot skip), shown at /interaction/:uid. */
export type PromptPage = (req: Request, res: Response, pending: PendingInteraction) => Promise<void>;

/** Where the page of a finished interaction leads when a feature's flow went through it (`undefined`: not its own). */
export type StepOver = (uid: string) => Promise<string | undefined>;

type Deps = {
  interactions: Interactions;
  accounts: AccountService;
  records: RecordService;
  authorizations: AuthorizationService;
  csrf: Csrf;
  /** Pages of further prompts, by prompt name. */
  prompts?: ReadonlyMap<string, PromptPage>;
  /** Features' pages for interactions that are over (Back, reload), asked before "start again". */
  stepsOver?: readonly StepOver[];
};

export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export function interactionRoutes({ interactions, accounts, records, authorizations, csrf, prompts = new Map(), stepsOver = [] }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 });
  const base = (pending: PendingInteraction) => `/interaction/${pending.uid}`;

  /**
   * The pending interaction, or `undefined` after sending the browser on: to resume one that has
   * its result, or back to the interaction's page when it is not at `prompt`.
   */
  const pendingOf = async (req: Request, res: Response, prompt?: string): Promise<PendingInteraction | undefined> => {
    const pending = await interactions.load(req, res);
    if (pending.finishedReturnTo) res.redirect(303, pending.finishedReturnTo);
    else if (prompt && pending.prompt.name !== prompt) res.redirect(303, base(pending));
    else return pending;
    return undefined;
  };

  /** Sends the browser on once the interaction is answered; a second answer gets a plain page. */
  const answer = async (res: Response, work: () => Promise<string>) => {
    try {
      res.redirect(303, await work());
    } catch (error) {
      if (!(error instanceof AlreadyAnswered)) throw error;
      await sendPage(res, 409, 'pages/message', {
        title: 'Already answered',
        message: error.message,
        link: error.returnTo ? { href: error.returnTo, text: 'Continue' } : undefined,
      });
    }
  };

  /** Runs a sign-in or registration step; a refusal is shown above the form it came from. */
  const attempt = async (res: Response, step: () => Promise<string>, showRefusal: (status: number, message: string) => Promise<void>) => {
    try {
      await answer(res, step);
    } catch (error) {
      if (!(error instanceof DomainError) || error instanceof InteractionExpired) throw error;
      if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
      await showRefusal(STATUS_OF[error.kind], error.message);
    }
  };

  const showSignIn = (res: Response, pending: PendingInteraction, status = 200, email = '', error?: string) =>
    sendPage(res, status, 'interactions/signin', {
      title: 'Sign in',
      clientName: pending.firstParty ? '' : pending.clientName,
      action: `${base(pending)}/login`,
      registerHref: `${base(pending)}/register`,
      email,
      error,
    });

  const showRegister = (res: Response, pending: PendingInteraction, status = 200, values = { name: '', email: '' }, error?: string) =>
    sendPage(res, status, 'interactions/register', {
      title: 'Create account',
      clientName: pending.firstParty ? '' : pending.clientName,
      action: `${base(pending)}/register`,
      signInHref: base(pending),
      ...values,
      error,
    });

  const showConsent = async (res: Response, pending: PendingInteraction, status = 200, error?: string) => {
    const held = await records.recordsOf(pending.accountId ?? '');
    // Start from the record this app already reaches, with the optional rules declined there unticked.
    const [existing] = await authorizations.findForRecords(pending.clientId, held.map((record) => record.id));
    const declined = new Set((existing?.declined ?? '').split(' ').filter(Boolean));
    const { logo, policy, terms } = pending.clientLinks;
    await sendPage(res, status, 'interactions/consent', {
      title: `Connect ${pending.clientName}`,
      clientName: pending.clientName,
      logo: allowImageFrom(res, logo) ? logo : undefined,
      policy,
      terms,
      action: `${base(pending)}/consent`,
      rules: pending.rules.map((rule) => (declined.has(rule.scope) ? { ...rule, checked: false } : rule)),
      identity: pending.identity,
      records: held,
      selectedRecord: existing?.record_id ?? held[0]?.id,
      error,
    });
  };

  /** The page of an interaction that is over: a feature whose flow it was says where that flow stands. */
  const overPage = async (uid: string): Promise<string | undefined> => {
    for (const over of stepsOver) {
      const page = await over(uid);
      if (page) return page;
    }
    return undefined;
  };

  router.get('/interaction/:uid', csrf.issue, async (req, res) => {
    let pending: PendingInteraction | undefined;
    try {
      pending = await pendingOf(req, res);
    } catch (error) {
      const page = error instanceof InteractionExpired ? await overPage(String(req.params.uid)) : undefined;
      if (!page) throw error;
      return res.redirect(303, page);
    }
    if (!pending) return;
    const { name } = pending.prompt;
    if (name === 'login') {
      await (pending.wantsSignup ? showRegister(res, pending) : showSignIn(res, pending));
    } else if (name === 'consent' && pending.firstParty) {
      // carevault's own pages need no consent to learn who signed in.
      await answer(res, async () => pending.finish({ consent: { grantId: await pending.saveGrant({ existingGrantId: undefined, granted: [], declined: [] }) } }));
    } else if (name === 'consent') {
      await showConsent(res, pending);
    } else {
      const page = prompts.get(name);
      if (!page) throw new Error(`no page for the ${name} prompt`);
      await page(req, res, pending);
    }
  });

  router.get('/interaction/:uid/register', csrf.issue, async (req, res) => {
    const pending = await pendingOf(req, res, 'login');
    if (!pending) return;
    await showRegister(res, pending);
  });

  router.post('/interaction/:uid/login', form, csrf.issue, csrf.verify, async (req, res) => {
    const pending = await pendingOf(req, res, 'login');
    if (!pending) return;
    const input = signInForm.safeParse(req.body ?? {});
    const email = input.success ? input.data.email : '';
    if (!input.success) {
      await showSignIn(res, pending, 400, email, firstMessage(input.error));
      return;
    }
    await attempt(
      res,
      async () => pending.finish({ login: { accountId: (await accounts.authenticate(input.data, clientAddress(req))).id } }),
      (status, message) => showSignIn(res, pending, status, email, message),
    );
  });

  router.post('/interaction/:uid/register', form, csrf.issue, csrf.verify, async (req, res) => {
    const pending = await pendingOf(req, res, 'login');
    if (!pending) return;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const values = { name: typeof body.name === 'string' ? body.name : '', email: typeof body.email === 'string' ? body.email : '' };
    const input = registrationForm.safeParse(body);
    if (!input.success) {
      await showRegister(res, pending, 400, values, firstMessage(input.error));
      return;
    }
    await attempt(
      res,
      async () => pending.finish({ login: { accountId: (await accounts.register(input.data, clientAddress(req))).id } }),
      (status, message) => showRegister(res, pending, status, values, message),
    );
  });

  router.post('/interaction/:uid/consent', form, csrf.issue, csrf.verify, async (req, res) => {
    const pending = await pendingOf(req, res, 'consent');
    if (!pending) return;
    if (!pending.accountId) throw new InteractionExpired('not signed in');
    // The interaction belongs to the session, so its person is the one signed in.
    const person = personOf(res);
    const held = await records.recordsOf(pending.accountId);
    const decision = consentDecision(req.body, pending.rules, held);
    if (!person || person.id !== pending.accountId || decision.kind === 'invalid') {
      await showConsent(res, pending, 400, decision.kind === 'invalid' ? decision.message : undefined);
      return;
    }
    if (decision.kind === 'deny') {
      await answer(res, () => authorizations.deny(pending, person, decision.recordId ?? held[0]?.id));
      return;
    }
    await answer(res, () => authorizations.allow(pending, person, decision));
  });

  return router;
}
