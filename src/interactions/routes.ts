/**
 * Web-based authorization pages: sign-in, registration and consent, inside an oidc-provider
 * interaction (all under /interaction/:uid, where its cookie is scoped).
 */
import express, { type Request, type Response } from 'express';
import { firstMessage, registrationForm, signInForm } from '../accounts/schemas';
import type { AccountService, Person } from '../accounts/service';
import type { AuthorizationService } from '../authorizations/service';
import { HttpError } from '../http/errors';
import { sendPage } from '../http/render';
import { InteractionExpired, type Interactions, type PendingInteraction } from '../oidc/interactions';
import { consentDecision } from './consent';

type Deps = {
  interactions: Interactions;
  accounts: AccountService;
  authorizations: AuthorizationService;
  csrf: { issue: express.RequestHandler; verify: express.RequestHandler };
};

function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export function interactionRoutes({ interactions, accounts, authorizations, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 });
  const base = (pending: PendingInteraction) => `/interaction/${pending.uid}`;

  /**
   * The pending interaction, or `undefined` after sending the browser on: to resume one that has
   * its result, or back to the interaction's page when it is not at `prompt`.
   */
  const pendingOf = async (req: Request, res: Response, prompt?: PendingInteraction['prompt']): Promise<PendingInteraction | undefined> => {
    const pending = await interactions.load(req, res);
    if (pending.finishedReturnTo) res.redirect(303, pending.finishedReturnTo);
    else if (prompt && pending.prompt !== prompt) res.redirect(303, base(pending));
    else return pending;
    return undefined;
  };

  /** Runs a sign-in or registration step; a refusal (4xx) is shown above the form it came from. */
  const attempt = async (step: () => Promise<void>, showRefusal: (status: number, message: string) => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      if (!(error instanceof HttpError) || error.status >= 500) throw error;
      await showRefusal(error.status, error.description);
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
    const records = await accounts.recordsOf(pending.accountId ?? '');
    // Start from the record this app already reaches, with the optional rules declined there unticked.
    const [existing] = await authorizations.findForRecords(pending.clientId, records.map((record) => record.id));
    const declined = new Set((existing?.declined ?? '').split(' ').filter(Boolean));
    await sendPage(res, status, 'interactions/consent', {
      title: `Connect ${pending.clientName}`,
      clientName: pending.clientName,
      action: `${base(pending)}/consent`,
      rules: pending.rules.map((rule) => (declined.has(rule.scope) ? { ...rule, checked: false } : rule)),
      identity: pending.identity,
      records,
      selectedRecord: existing?.record_id ?? records[0]?.id,
      error,
    });
  };

  router.get('/interaction/:uid', csrf.issue, async (req, res) => {
    const pending = await pendingOf(req, res);
    if (!pending) return;
    if (pending.prompt === 'login') {
      await (pending.wantsSignup ? showRegister(res, pending) : showSignIn(res, pending));
      return;
    }
    // carevault's own pages need no consent to learn who signed in.
    if (pending.firstParty) {
      const { grantId } = await interactions.saveGrant(pending, [], [], undefined);
      await interactions.finishConsent(req, res, grantId);
      return;
    }
    await showConsent(res, pending);
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
      async () => interactions.finishLogin(req, res, (await accounts.authenticate(input.data, clientAddress(req))).id),
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
      async () => interactions.finishLogin(req, res, (await accounts.register(input.data, clientAddress(req))).id),
      (status, message) => showRegister(res, pending, status, values, message),
    );
  });

  router.post('/interaction/:uid/consent', form, csrf.issue, csrf.verify, async (req, res) => {
    const pending = await pendingOf(req, res, 'consent');
    if (!pending) return;
    if (!pending.accountId) throw new InteractionExpired('not signed in');
    // The interaction belongs to the session, so its person is the one signed in.
    const person = res.locals.person as Person | undefined;
    const records = await accounts.recordsOf(pending.accountId);
    const decision = consentDecision(req.body, pending.rules, records);
    if (person?.id !== pending.accountId || decision.kind === 'invalid') {
      await showConsent(res, pending, 400, decision.kind === 'invalid' ? decision.message : undefined);
      return;
    }
    const app = { clientId: pending.clientId, clientName: pending.clientName };
    if (decision.kind === 'deny') {
      const recordId = decision.recordId ?? records[0]?.id;
      if (recordId) await authorizations.recordDenial(app, recordId, person);
      await interactions.finishDenied(req, res);
      return;
    }
    const existing = await authorizations.find(pending.clientId, decision.recordId);
    const { grantId, scope } = await interactions.saveGrant(pending, decision.granted, decision.declined, existing?.grant_id);
    await authorizations.recordConsent({ grantId, ...app, person, recordId: decision.recordId, scope, declined: decision.declined });
    await interactions.finishConsent(req, res, grantId);
  });

  return router;
}
