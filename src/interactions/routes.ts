/**
 * Web-based authorization pages, inside an oidc-provider interaction (all under /interaction/:uid,
 * where its cookie is scoped): sign-in and registration for the `login` prompt — the password, then,
 * for a person with two-step sign-in, a code (RFC 6238, or a recovery code) before the login is
 * answered with its `amr` (RFC 8176) and `acr`; the code alone for a signed-in person an app asked to
 * step up — the record picker
 * and rules for `consent`, and the pages of carevault's own prompts, registered by name.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { firstMessage } from '../http/forms';
import { registrationForm, signInForm } from '../accounts/schemas';
import type { AccountService } from '../accounts/service';
import type { AuthorizationService } from '../authorizations/service';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import type { Csrf } from '../security/csrf';
import { sendPage, type PageLocals } from '../http/render';
import { personOf } from '../http/require-person';
import type { Interactions } from '../oidc/interactions';
import type { RecordService } from '../records/service';
import { allowImageFrom } from '../security/image-sources';
import { describeScopeFor, splitScopes } from '../rules/scopes';
import { consentDecision, consentQuery, MISSING_RECORD } from './consent';
import { endedSteps, type StepOver } from './ended';
import { ACR_PASSWORD, ACR_TWO_STEP, AlreadyAnswered, InteractionExpired, STEP_UP_REASON, type PendingInteraction } from './pending';

/**
 * The password step passed, waiting for the second: a signed cookie scoped to the interaction's
 * path, naming the interaction and the person. It opens nothing without a right code.
 */
const PASSWORD_PASSED = 'cv.pwd';
const PASSWORD_PASSED_MINUTES = 10;

/** The second step's one field: 6 digits or a recovery code (checked by the service). */
const codeForm = z.object({ code: z.string().trim().min(1, 'Type the code.').max(40, 'That code is too long.') });

/** The page of a prompt of carevault's own (a step the flow cannot skip), shown at /interaction/:uid. */
export type PromptPage = (req: Request, res: Response, pending: PendingInteraction) => Promise<void>;

export type { StepOver } from './ended';

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
  const orEnded = endedSteps({ interactions, records, stepsOver });
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

  /** A page of the `login` prompt, with whom it is for (no app named on carevault's own) and the refusal, if any. */
  const showStep = (res: Response, pending: PendingInteraction, status: number, view: string, locals: PageLocals, error?: string) =>
    sendPage(res, status, `interactions/${view}`, { clientName: pending.firstParty ? '' : pending.clientName, ...locals, error });

  const showSignIn = (res: Response, pending: PendingInteraction, status = 200, email = '', error?: string) =>
    showStep(res, pending, status, 'signin', { title: 'Sign in', action: `${base(pending)}/login`, registerHref: `${base(pending)}/register`, email }, error);

  const showRegister = (res: Response, pending: PendingInteraction, status = 200, values = { name: '', email: '' }, error?: string) =>
    showStep(res, pending, status, 'register', { title: 'Create account', action: `${base(pending)}/register`, signInHref: base(pending), ...values }, error);

  const passedCookie = (req: Request, pending: PendingInteraction) => ({
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: req.secure,
    signed: true,
    path: base(pending),
  });

  /**
   * Who is at the second step of this interaction: the person whose password passed here (the
   * cookie), or — when an app asked a signed-in person to step up — the session's person.
   */
  const secondStepOf = (req: Request, pending: PendingInteraction): { personId: string; stepUp: boolean } | undefined => {
    const passed: unknown = req.signedCookies?.[PASSWORD_PASSED];
    if (typeof passed === 'string') {
      const [uid, personId, until] = passed.split('|');
      if (uid === pending.uid && personId && Number(until) > Date.now()) return { personId, stepUp: false };
    }
    if (pending.accountId && pending.prompt.reasons.includes(STEP_UP_REASON)) return { personId: pending.accountId, stepUp: true };
    return undefined;
  };

  const showCode = (res: Response, pending: PendingInteraction, stepUp: boolean, status = 200, error?: string) =>
    showStep(
      res,
      pending,
      status,
      'code',
      { title: 'Two-step sign-in', action: `${base(pending)}/code`, restartHref: `${base(pending)}/restart`, stepUp },
      error,
    );

  /**
   * The consent page. Optional rules start unticked and, with several records, none is chosen: the
   * page asks, it does not assume. What the person chose last time for a record is said, and applied
   * only when they ask for it (`?use=<record>`); `?missing=record` brings back the ticks of an Allow
   * that came without a record, with why it was not taken.
   */
  const showConsent = async (req: Request, res: Response, pending: PendingInteraction, refusal?: { status: number; error: string }) => {
    const held = await records.recordsOf(pending.accountId ?? '');
    const shown = consentQuery.safeParse(req.query);
    const query: Partial<z.infer<typeof consentQuery>> = shown.success ? shown.data : {};
    const earlier = await authorizations.findForRecords(
      pending.clientId,
      held.map((record) => record.id),
    );
    const optional = pending.rules.filter((rule) => !rule.required);
    const lastTime = earlier
      .map((row) => {
        const record = held.find((item) => item.id === row.record_id);
        const granted = new Set(splitScopes(row.scope));
        const allowed = optional.filter((rule) => granted.has(rule.scope));
        return record && optional.length ? { record, allowed: allowed.map((rule) => rule.scope), href: `${base(pending)}?use=${record.id}` } : undefined;
      })
      .filter((item) => item !== undefined);
    const used = lastTime.find((item) => item.record.id === query.use);
    const chosen = held.length === 1 ? held[0]?.id : (used?.record.id ?? held.find((record) => record.id === query.record)?.id);
    const ticked = new Set(used ? used.allowed : (query.rules ?? []));
    const { logo, policy, terms } = pending.clientLinks;
    await sendPage(res, refusal?.status ?? (query.missing ? 400 : 200), 'interactions/consent', {
      title: `Connect ${pending.clientName}`,
      clientName: pending.clientName,
      logo: allowImageFrom(res, logo) ? logo : undefined,
      policy,
      terms,
      action: `${base(pending)}/consent`,
      rules: pending.rules.map((rule) => ({
        ...rule,
        checked: rule.required || ticked.has(rule.scope),
        // The rule in words for each record it could reach, and before a record is chosen.
        unchosen: describeScopeFor(rule.scope, 'the chosen record', pending.clientName),
        perRecord: held.map((record) => describeScopeFor(rule.scope, record.name, pending.clientName)),
      })),
      lastTime: lastTime.map((item) => ({
        name: item.record.name,
        allowed: optional.filter((rule) => item.allowed.includes(rule.scope)).map((rule) => describeScopeFor(rule.scope, item.record.name, pending.clientName)),
        declined: optional
          .filter((rule) => !item.allowed.includes(rule.scope))
          .map((rule) => describeScopeFor(rule.scope, item.record.name, pending.clientName)),
        href: item.href,
        applied: item === used,
      })),
      identity: pending.identity,
      records: held,
      selectedRecord: chosen,
      error: refusal?.error ?? (query.missing ? MISSING_RECORD : undefined),
    });
  };

  router.get(
    '/interaction/:uid',
    csrf.issue,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res);
      if (!pending) return;
      const { name } = pending.prompt;
      const second = name === 'login' ? secondStepOf(req, pending) : undefined;
      if (second) {
        await showCode(res, pending, second.stepUp);
      } else if (name === 'login') {
        await (pending.wantsSignup ? showRegister(res, pending) : showSignIn(res, pending));
      } else if (name === 'consent' && pending.firstParty) {
        // carevault's own pages need no consent to learn who signed in.
        await answer(res, async () =>
          pending.finish({ consent: { grantId: await pending.saveGrant({ existingGrantId: undefined, granted: [], declined: [] }) } }),
        );
      } else if (name === 'consent') {
        await showConsent(req, res, pending);
      } else {
        const page = prompts.get(name);
        if (!page) throw new Error(`no page for the ${name} prompt`);
        await page(req, res, pending);
      }
    }),
  );

  router.get(
    '/interaction/:uid/register',
    csrf.issue,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      await showRegister(res, pending);
    }),
  );

  router.post(
    '/interaction/:uid/login',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
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
        async () => {
          const person = await accounts.authenticate(input.data, clientAddress(req));
          if (!(await accounts.secondStepOn(person.id))) return pending.finish({ login: { accountId: person.id, amr: ['pwd'], acr: ACR_PASSWORD } });
          const until = Date.now() + PASSWORD_PASSED_MINUTES * 60_000;
          res.cookie(PASSWORD_PASSED, `${pending.uid}|${person.id}|${until}`, { ...passedCookie(req, pending), maxAge: PASSWORD_PASSED_MINUTES * 60_000 });
          return base(pending);
        },
        (status, message) => showSignIn(res, pending, status, email, message),
      );
    }, true),
  );

  router.post(
    '/interaction/:uid/code',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      const second = secondStepOf(req, pending);
      const step = accounts.secondStep();
      if (!second || !step) {
        res.redirect(303, base(pending));
        return;
      }
      const input = codeForm.safeParse(req.body ?? {});
      if (!input.success) {
        await showCode(res, pending, second.stepUp, 400, firstMessage(input.error));
        return;
      }
      await attempt(
        res,
        async () => {
          await step.check(second.personId, input.data.code);
          res.clearCookie(PASSWORD_PASSED, passedCookie(req, pending));
          // RFC 8176: a recovery code is a one-time password too; with the password, two factors.
          return pending.finish({ login: { accountId: second.personId, amr: ['pwd', 'otp', 'mfa'], acr: ACR_TWO_STEP } });
        },
        (status, message) => showCode(res, pending, second.stepUp, status, message),
      );
    }, true),
  );

  router.post(
    '/interaction/:uid/restart',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      res.clearCookie(PASSWORD_PASSED, passedCookie(req, pending));
      res.redirect(303, base(pending));
    }, true),
  );

  router.post(
    '/interaction/:uid/register',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
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
        async () => pending.finish({ login: { accountId: (await accounts.register(input.data, clientAddress(req))).id, amr: ['pwd'], acr: ACR_PASSWORD } }),
        (status, message) => showRegister(res, pending, status, values, message),
      );
    }, true),
  );

  router.post(
    '/interaction/:uid/consent',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'consent');
      if (!pending) return;
      if (!pending.accountId) throw new InteractionExpired('not signed in');
      // The interaction belongs to the session, so its person is the one signed in.
      const person = personOf(res);
      const held = await records.recordsOf(pending.accountId);
      const decision = consentDecision(req.body, pending.rules, held);
      if (!person || person.id !== pending.accountId) throw new InteractionExpired('signed in as someone else');
      if (decision.kind === 'invalid' && decision.missing === 'record') {
        // Back to the question, with what the person had ticked, and why it was not taken.
        res.redirect(303, `${base(pending)}?${new URLSearchParams([['missing', 'record'], ...decision.ticked.map((scope) => ['rules', scope])])}`);
        return;
      }
      if (decision.kind === 'invalid') {
        // A form the page never sends (no decision, a record not theirs): refused as it came.
        await showConsent(req, res, pending, { status: 400, error: decision.message });
        return;
      }
      if (decision.kind === 'deny') {
        await answer(res, () => authorizations.deny(pending, person, decision.recordId ? [decision.recordId] : held.map((record) => record.id)));
        return;
      }
      await answer(res, () => authorizations.allow(pending, person, decision));
    }, true),
  );

  return router;
}
