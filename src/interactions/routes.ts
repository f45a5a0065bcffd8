/**
 * Web-based authorization pages, inside an oidc-provider interaction (all under /interaction/:uid,
 * where its cookie is scoped): sign-in and registration for the `login` prompt — the password, then,
 * for a person with two-step sign-in, a code (RFC 6238, or a recovery code) before the login is
 * answered with its `amr` (RFC 8176) and `acr`; the code alone for a signed-in person an app asked to
 * step up; a passkey (WebAuthn) as that second step, or alone instead of the password — the record picker
 * and rules for `consent`, and the pages of carevault's own prompts, registered by name.
 * A refused sign-in or registration answers 303 to its form's page, which shows the refusal once
 * (Post/Redirect/Get: Back and reload never resubmit). A registration answers the same "Check your
 * email" page whether or not the email already has an account (the mail differs, not the page);
 * its **Continue** signs the new person in, or, for a taken email, opens the sign-in form — the one
 * step where the two part, as they must once the person goes on (a new account is usable at once).
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
import { LEVEL_WORDS, levelGrants } from '../records/access';
import type { RecordService } from '../records/service';
import { allowImageFrom } from '../security/image-sources';
import { describeScopeFor, splitScopes } from '../rules/scopes';
import { blockedByLevel, consentDecision, consentQuery, MISSING_RECORD } from './consent';
import { endedSteps, type StepOver } from './ended';
import { ACR_PASSWORD, ACR_TWO_STEP, AlreadyAnswered, InteractionExpired, STEP_UP_REASON, type PendingInteraction } from './pending';

/**
 * The password step passed, waiting for the second: a signed cookie scoped to the interaction's
 * path, naming the interaction and the person. It opens nothing without a right code.
 */
const PASSWORD_PASSED = 'cv.pwd';
const PASSWORD_PASSED_MINUTES = 10;

/**
 * A refused sign-in or registration, carried to the form's page (POST → 303 → GET), which shows it
 * once and clears it, so Back and reload never resubmit the form: a signed cookie scoped to the
 * interaction's path, living a few minutes, with the words, the status and what the person typed
 * (never the password).
 */
const NOTICE = 'cv.notice';
const NOTICE_MINUTES = 5;
const noticeShape = z.object({
  uid: z.string(),
  form: z.enum(['signin', 'register']),
  status: z.number().int(),
  error: z.string().optional(),
  retryAfter: z.number().int().optional(),
  name: z.string().default(''),
  email: z.string().default(''),
});
type Notice = z.infer<typeof noticeShape>;

/**
 * A registration answered, waiting for **Continue**: a signed cookie scoped to the interaction's
 * path with the id the registration tried and the email it was for. Both a new and a taken email
 * set it, in the same shape; only **Continue** finds out whether that id is a person (the new one,
 * signed in at once) or nobody (the sign-in form, with the email filled in).
 */
const REGISTERED = 'cv.registered';
const REGISTERED_MINUTES = 10;
const registeredShape = z.object({ uid: z.string(), id: z.string(), email: z.string(), until: z.number() });

/** The second step's one field: 6 digits or a recovery code (checked by the service). */
const codeForm = z.object({ code: z.string().trim().min(1, 'Type the code.').max(40, 'That code is too long.') });

/** A passkey's answer, as the page's script puts it in the form (JSON, checked by the service). */
const passkeyForm = z.object({ credential: z.string().catch('').pipe(z.string().max(32_000)) });

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
  const passkeys = () => accounts.secondStep()?.passkeys;
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
  const attempt = async (res: Response, step: () => Promise<string>, showRefusal: (status: number, message: string, retryAfter?: number) => Promise<void>) => {
    try {
      await answer(res, step);
    } catch (error) {
      if (!(error instanceof DomainError) || error instanceof InteractionExpired) throw error;
      await showRefusal(STATUS_OF[error.kind], error.message, error instanceof TooManyAttempts ? error.retryAfterSeconds : undefined);
    }
  };

  const scopedCookie = (req: Request, pending: PendingInteraction, minutes?: number) => ({
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: req.secure,
    signed: true,
    path: base(pending),
    ...(minutes ? { maxAge: minutes * 60_000 } : {}),
  });

  /** Answers with 303 to the form's page, which shows `notice` once (a refusal, or what to fill in). */
  const backToForm = (req: Request, res: Response, pending: PendingInteraction, notice: Omit<Notice, 'uid'>) => {
    // What was typed is kept only as long as the form accepts it, so the cookie stays small.
    const typed = { name: notice.name.slice(0, 200), email: notice.email.slice(0, 254) };
    res.cookie(NOTICE, JSON.stringify({ uid: pending.uid, ...notice, ...typed }), scopedCookie(req, pending, NOTICE_MINUTES));
    res.redirect(303, notice.form === 'register' ? `${base(pending)}/register` : `${base(pending)}?form=signin`);
  };

  /** The notice waiting for this interaction's page, if any; it is cleared, so a reload shows none. */
  const takeNotice = (req: Request, res: Response, pending: PendingInteraction): Notice | undefined => {
    const raw: unknown = req.signedCookies?.[NOTICE];
    if (typeof raw !== 'string') return undefined;
    res.clearCookie(NOTICE, scopedCookie(req, pending));
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const notice = noticeShape.safeParse(parsed);
    return notice.success && notice.data.uid === pending.uid ? notice.data : undefined;
  };

  /** Shows the sign-in or registration form, with the notice a refusal left for it. */
  const showForm = async (req: Request, res: Response, pending: PendingInteraction, wanted: Notice['form']) => {
    const notice = takeNotice(req, res, pending);
    const form = notice?.form ?? wanted;
    if (notice?.retryAfter !== undefined) res.set('Retry-After', String(notice.retryAfter));
    const status = notice?.status ?? 200;
    if (form === 'register') await showRegister(res, pending, status, { name: notice?.name ?? '', email: notice?.email ?? '' }, notice?.error);
    else await showSignIn(res, pending, status, notice?.email ?? '', notice?.error);
  };

  /** A page of the `login` prompt, with whom it is for (no app named on carevault's own) and the refusal, if any. */
  const showStep = (res: Response, pending: PendingInteraction, status: number, view: string, locals: PageLocals, error?: string) =>
    sendPage(res, status, `interactions/${view}`, { clientName: pending.firstParty ? '' : pending.clientName, ...locals, error });

  /** Where a page's **Use a passkey** / **Sign in with a passkey** form gets its options and sends its answer. */
  const passkeyLinks = (pending: PendingInteraction) => ({ passkeyAction: `${base(pending)}/passkey`, passkeyOptions: `${base(pending)}/passkey/options` });

  const showSignIn = (res: Response, pending: PendingInteraction, status = 200, email = '', error?: string) =>
    showStep(
      res,
      pending,
      status,
      'signin',
      {
        title: 'Sign in',
        action: `${base(pending)}/login`,
        registerHref: `${base(pending)}/register`,
        email,
        ...(passkeys() ? passkeyLinks(pending) : { passkeyAction: '' }),
      },
      error,
    );

  const showRegister = (res: Response, pending: PendingInteraction, status = 200, values = { name: '', email: '' }, error?: string) =>
    showStep(
      res,
      pending,
      status,
      'register',
      { title: 'Create account', action: `${base(pending)}/register`, signInHref: `${base(pending)}?form=signin`, ...values },
      error,
    );

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

  const showCode = async (res: Response, pending: PendingInteraction, second: { personId: string; stepUp: boolean }, status = 200, error?: string) => {
    const offered = passkeys();
    const withPasskey = offered ? await offered.has(second.personId) : false;
    await showStep(
      res,
      pending,
      status,
      'code',
      {
        title: 'Two-step sign-in',
        action: `${base(pending)}/code`,
        restartHref: `${base(pending)}/restart`,
        stepUp: second.stepUp,
        ...(withPasskey ? passkeyLinks(pending) : { passkeyAction: '' }),
      },
      error,
    );
  };

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
      pending.accountId ?? '',
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
    const chosenLevel = held.find((record) => record.id === chosen)?.access;
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
        checked: (rule.required || ticked.has(rule.scope)) && (!chosenLevel || levelGrants(chosenLevel, rule.scope)),
        // Beyond the person's level on the chosen record (View only): shown, never offered.
        notPossible: chosenLevel !== undefined && !levelGrants(chosenLevel, rule.scope),
        // For each record, whether the person's level there keeps this rule out (said when that record is chosen).
        limitedFor: held.map((record) => !levelGrants(record.access, rule.scope)),
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
      records: held.map((record) => ({ ...record, accessWords: record.access === 'custodian' ? undefined : LEVEL_WORDS[record.access] })),
      selectedRecord: chosen,
      blocked: blockedByLevel(pending.rules, chosenLevel),
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
        await showCode(res, pending, second);
      } else if (name === 'login') {
        await showForm(req, res, pending, pending.wantsSignup && req.query.form !== 'signin' ? 'register' : 'signin');
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
      await showForm(req, res, pending, 'register');
    }),
  );

  /** What a registration tried, while its **Continue** is waiting (see REGISTERED). */
  const registeredOf = (req: Request, pending: PendingInteraction) => {
    const raw: unknown = req.signedCookies?.[REGISTERED];
    if (typeof raw !== 'string') return undefined;
    try {
      const registered = registeredShape.safeParse(JSON.parse(raw));
      return registered.success && registered.data.uid === pending.uid && registered.data.until > Date.now() ? registered.data : undefined;
    } catch {
      return undefined;
    }
  };

  router.get(
    '/interaction/:uid/registered',
    csrf.issue,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      const registered = registeredOf(req, pending);
      if (!registered) {
        res.redirect(303, base(pending));
        return;
      }
      await showStep(res, pending, 200, 'registered', { title: 'Check your email', action: `${base(pending)}/registered`, email: registered.email });
    }),
  );

  router.post(
    '/interaction/:uid/registered',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      const registered = registeredOf(req, pending);
      res.clearCookie(REGISTERED, scopedCookie(req, pending));
      const person = registered ? await accounts.findPerson(registered.id) : undefined;
      if (!registered || !person) {
        // A taken email (or a wait too long): the sign-in form, with the email filled in.
        backToForm(req, res, pending, { form: 'signin', status: 200, name: '', email: registered?.email ?? '' });
        return;
      }
      await answer(res, () => pending.finish({ login: { accountId: person.id, amr: ['pwd'], acr: ACR_PASSWORD } }));
    }, true),
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
        backToForm(req, res, pending, { form: 'signin', status: 400, error: firstMessage(input.error), name: '', email });
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
        async (status, error, retryAfter) => backToForm(req, res, pending, { form: 'signin', status, error, retryAfter, name: '', email }),
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
        await showCode(res, pending, second, 400, firstMessage(input.error));
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
        async (status, message, retryAfter) => {
          if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
          await showCode(res, pending, second, status, message);
        },
      );
    }, true),
  );

  /**
   * A passkey ceremony's options: for the second step of the person at it (their passkeys), else for
   * signing in with a passkey alone (any discoverable one), bound to this interaction.
   */
  router.post(
    '/interaction/:uid/passkey/options',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      const offered = passkeys();
      if (!offered) {
        res.status(404).json({ error: 'not_found', error_description: 'Passkeys are not offered here.' });
        return;
      }
      const second = secondStepOf(req, pending);
      res.set('Cache-Control', 'no-store').json({ publicKey: await offered.options(second ? { personId: second.personId } : { interaction: pending.uid }) });
    }, true),
  );

  /**
   * The passkey's answer: after the password (or for a step-up) it is the second step, `amr` gaining
   * `hwk` or `swk` and `mfa`; alone it signs the person in, two factors by itself (possession and
   * the user verification every ceremony requires), so it meets {@link ACR_TWO_STEP}.
   */
  router.post(
    '/interaction/:uid/passkey',
    form,
    csrf.issue,
    csrf.verify,
    orEnded(async (req, res) => {
      const pending = await pendingOf(req, res, 'login');
      if (!pending) return;
      const offered = passkeys();
      if (!offered) {
        res.redirect(303, base(pending));
        return;
      }
      const second = secondStepOf(req, pending);
      // A refused second step is shown on its page; a refused passkey alone goes back to the sign-in form, as a refused password does.
      const refuse = async (status: number, message: string, retryAfter?: number) => {
        if (second) await showCode(res, pending, second, status, message);
        else backToForm(req, res, pending, { form: 'signin', status, error: message, retryAfter, name: '', email: '' });
      };
      const input = passkeyForm.safeParse(req.body ?? {});
      if (!input.success) {
        await refuse(400, firstMessage(input.error));
        return;
      }
      await attempt(
        res,
        async () => {
          if (second) {
            const { kind } = await offered.verify(input.data.credential, { personId: second.personId });
            res.clearCookie(PASSWORD_PASSED, passedCookie(req, pending));
            return pending.finish({ login: { accountId: second.personId, amr: ['pwd', kind, 'mfa'], acr: ACR_TWO_STEP } });
          }
          const { personId, kind } = await offered.verify(input.data.credential, { interaction: pending.uid });
          return pending.finish({ login: { accountId: personId, amr: [kind], acr: ACR_TWO_STEP } });
        },
        refuse,
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
        backToForm(req, res, pending, { form: 'register', status: 400, error: firstMessage(input.error), ...values });
        return;
      }
      await attempt(
        res,
        async () => {
          // A new and a taken email are answered alike: the same cookie, the same page.
          const id = await accounts.register(input.data, clientAddress(req));
          const until = Date.now() + REGISTERED_MINUTES * 60_000;
          res.cookie(REGISTERED, JSON.stringify({ uid: pending.uid, id, email: input.data.email, until }), scopedCookie(req, pending, REGISTERED_MINUTES));
          return `${base(pending)}/registered`;
        },
        async (status, error, retryAfter) => backToForm(req, res, pending, { form: 'register', status, error, retryAfter, ...values }),
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
      if (decision.kind === 'invalid' && decision.missing === 'level') {
        await showConsent(req, res, pending, { status: 403, error: decision.message });
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
