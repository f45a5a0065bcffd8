/**
 * Web-based authorization pages, inside an oidc-provider interaction (all under /interaction/:uid,
 * where its cookies are scoped): the `login` prompt's sign-in, second step and registration
 * (sign-in-routes.ts), the record picker and rules for `consent` (consent-page.ts, and its answer
 * here), and the pages of carevault's own prompts, registered by name.
 */
import express, { type Request, type Response } from 'express';
import type { AccountService } from '../accounts/service';
import type { AuthorizationService } from '../authorizations/service';
import { personOf } from '../http/require-person';
import type { Interactions } from '../oidc/interactions';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { consentDecision } from './consent';
import { consentPage } from './consent-page';
import { endedSteps, type StepOver } from './ended';
import { InteractionExpired, SignInRenewed, type PendingInteraction } from './pending';
import { signInPages } from './sign-in-pages';
import { signInRoutes } from './sign-in-routes';
import { interactionSteps, stepRoutes } from './steps';

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

export function interactionRoutes({ interactions, accounts, records, authorizations, csrf, prompts = new Map(), stepsOver = [] }: Deps): express.Router {
  const router = express.Router();
  const orEnded = endedSteps({ interactions, records, stepsOver });
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 });
  const steps = interactionSteps(interactions);
  const pages = signInPages({ steps, accounts });
  const showConsent = consentPage({ steps, records, authorizations });
  const { base, answer } = steps;
  const routes = stepRoutes(router, { steps, orEnded, csrf, form });
  const { secondStepOf, showCode, showForm } = pages;

  routes.page('/interaction/:uid', undefined, async (req, res, pending) => {
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
  });

  signInRoutes(routes, { steps, pages, accounts });

  routes.post('/interaction/:uid/consent', 'consent', async (req, res, pending) => {
    if (!pending.accountId) throw new InteractionExpired('not signed in');
    // The interaction belongs to the session, so its person is the one signed in.
    const person = personOf(res);
    // The interaction's sign-in is live (it loaded), but this request's sign-in id is not.
    if (!person) throw new SignInRenewed();
    const held = await records.recordsOf(pending.accountId);
    const decision = consentDecision(req.body, pending.rules, held);
    if (person.id !== pending.accountId) throw new InteractionExpired('signed in as someone else');
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
  });

  return router;
}
