/**
 * Patient Connect's pages: the secret-question step of the authorization flow (a prompt page at
 * /interaction/:uid, so it cannot be skipped by going straight to consent). The app API is the
 * operation table in api-routes.ts, which the core mounts.
 */
import express, { type Request, type Response } from 'express';
import type { AppNames } from '../apps/names';
import { sendPage } from '../http/render';
import { personOf } from '../http/require-person';
import { AlreadyAnswered, InteractionExpired, type PendingInteraction } from '../interactions/pending';
import type { PromptPage } from '../interactions/routes';
import type { Interactions } from '../oidc/interactions';
import { WRONG_ANSWERS_TO_LOCK } from '../rules/healthvault';
import type { Csrf } from '../security/csrf';
import { CONNECT_PROMPT } from './device-hooks';
import type { ConnectService } from './service';

type Deps = { connect: ConnectService; interactions: Interactions; appNames: AppNames };

function noStore(res: Response): void {
  res.set('Cache-Control', 'no-store');
}

export function connectRoutes({ connect, interactions, appNames }: Deps) {
  /** The secret-question page for the pending interaction's connect request. */
  const showQuestion = async (res: Response, pending: PendingInteraction, status = 200, error?: string) => {
    const request = await connect.questionOf(String(pending.prompt.details.connect_request ?? ''));
    if (!request) throw new InteractionExpired('connect request gone');
    noStore(res);
    await sendPage(res, status, 'connect/question', {
      title: 'Answer the secret question',
      clinicName: await appNames.name(request.clientId),
      friendlyName: request.friendlyName,
      question: request.question,
      attemptsLeft: WRONG_ANSWERS_TO_LOCK - request.wrongAnswers,
      action: `/interaction/${pending.uid}/${CONNECT_PROMPT}`,
      error,
    });
  };

  const prompt: PromptPage = (_req, res, pending) => showQuestion(res, pending);

  return {
    prompts: new Map([[CONNECT_PROMPT, prompt]]),

    routes({ csrf }: { csrf: Csrf }): express.Router {
      const router = express.Router();
      const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

      router.post(`/interaction/:uid/${CONNECT_PROMPT}`, form, csrf.issue, csrf.verify, async (req: Request, res: Response) => {
        const pending = await interactions.load(req, res);
        if (pending.finishedReturnTo) return res.redirect(303, pending.finishedReturnTo);
        if (pending.prompt.name !== CONNECT_PROMPT) return res.redirect(303, `/interaction/${pending.uid}`);
        const person = personOf(res);
        if (!person || person.id !== pending.accountId) throw new InteractionExpired('not signed in');
        const answer = typeof req.body?.answer === 'string' ? req.body.answer : '';
        if (answer.trim() === '') return showQuestion(res, pending, 400, 'Enter the answer to the question.');
        const outcome = await connect.answer(String(pending.prompt.details.connect_request ?? ''), person, answer);
        if (outcome === 'wrong') return showQuestion(res, pending, 400, 'That answer is not right. Check it and try again.');
        try {
          const next = await pending.finish(
            outcome === 'right'
              ? { prompt: { name: CONNECT_PROMPT, details: {} } }
              : { denied: `The secret question was answered wrongly ${WRONG_ANSWERS_TO_LOCK} times: the connect request is locked.` },
          );
          res.redirect(303, next);
        } catch (error) {
          if (!(error instanceof AlreadyAnswered)) throw error;
          res.redirect(303, error.returnTo ?? `/interaction/${pending.uid}`);
        }
      });

      return router;
    },
  };
}
