/**
 * What every page of an interaction does the same way: load the pending interaction (or send the
 * browser on when it is answered or at another prompt), answer it once with a 303 (a second answer
 * gets a plain page, never a second grant), turn a domain refusal into the form's refusal, and render
 * a step with whom it is for.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { sendPage, type PageLocals } from '../http/render';
import type { Interactions } from '../oidc/interactions';
import type { Csrf } from '../security/csrf';
import { interactionPath } from './cookies';
import type { endedSteps } from './ended';
import { AlreadyAnswered, InteractionExpired, type PendingInteraction } from './pending';

/** Shows a refusal where the person can act on it: its status, its words, and how long to wait. */
export type ShowRefusal = (status: number, message: string, retryAfter?: number) => Promise<void>;

export function interactionSteps(interactions: Interactions) {
  const base = (pending: PendingInteraction) => interactionPath(pending.uid);

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
  const answer = async (res: Response, work: () => Promise<string>): Promise<void> => {
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
  const attempt = async (res: Response, step: () => Promise<string>, showRefusal: ShowRefusal): Promise<void> => {
    try {
      await answer(res, step);
    } catch (error) {
      if (!(error instanceof DomainError) || error instanceof InteractionExpired) throw error;
      await showRefusal(STATUS_OF[error.kind], error.message, error instanceof TooManyAttempts ? error.retryAfterSeconds : undefined);
    }
  };

  /** A page of the `login` prompt, with whom it is for (no app named on carevault's own) and the refusal, if any. */
  const showStep = (res: Response, pending: PendingInteraction, status: number, view: string, locals: PageLocals, error?: string): Promise<void> =>
    sendPage(res, status, `interactions/${view}`, { clientName: pending.firstParty ? '' : pending.clientName, ...locals, error });

  return { base, pendingOf, answer, attempt, showStep };
}

export type InteractionSteps = ReturnType<typeof interactionSteps>;

/** What a step's route does once its interaction is known to be pending at the step's prompt. */
export type AtStep = (req: Request, res: Response, pending: PendingInteraction) => Promise<void>;

/**
 * How an interaction's pages are routed, once for all of them: a page (GET, with a CSRF token for
 * its form) and a form's answer (POST, its token checked), each run only while the interaction is
 * pending at `prompt` (every prompt when absent) and told as ended when oidc-provider let it go.
 */
export function stepRoutes(
  router: Router,
  { steps, orEnded, csrf, form }: { steps: InteractionSteps; orEnded: ReturnType<typeof endedSteps>; csrf: Csrf; form: RequestHandler },
) {
  const at = (prompt: string | undefined, handle: AtStep, posted: boolean) =>
    orEnded(async (req, res) => {
      const pending = await steps.pendingOf(req, res, prompt);
      if (pending) await handle(req, res, pending);
    }, posted);
  return {
    page(path: string, prompt: string | undefined, handle: AtStep): void {
      router.get(path, csrf.issue, at(prompt, handle, false));
    },
    post(path: string, prompt: string, handle: AtStep): void {
      router.post(path, form, csrf.issue, csrf.verify, at(prompt, handle, true));
    },
  };
}

export type StepRoutes = ReturnType<typeof stepRoutes>;
