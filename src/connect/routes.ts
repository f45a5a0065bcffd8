/**
 * Patient Connect's pages: the secret-question step of the authorization flow (a prompt page at
 * /interaction/:uid, so it cannot be skipped by going straight to consent), and the page of a
 * connect request (/connect-requests/:id; every path under /connect is the OpenID core's), where
 * the flow ends and where a step that is over leads (Back, reload): it says where the request
 * stands, as it is. Every post answers 303 to a page
 * (Post/Redirect/Get, RFC 9110 §15.4.4), so reload never posts an answer again. The app API is
 * the operation table in api-routes.ts, which the core mounts.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { AppNames } from '../apps/names';
import { NotFound } from '../errors';
import { sendPage } from '../http/render';
import { personOf } from '../http/require-person';
import { AlreadyAnswered, InteractionExpired, type PendingInteraction } from '../interactions/pending';
import type { PromptPage } from '../interactions/routes';
import type { Interactions } from '../oidc/interactions';
import { WRONG_ANSWERS_TO_LOCK } from '../rules/healthvault';
import type { Csrf } from '../security/csrf';
import { CONNECT_PROMPT, requestPage } from './device-hooks';
import type { ConnectService } from './service';
import { standingPage } from './standing-words';

type Deps = {
  connect: ConnectService;
  interactions: Interactions;
  appNames: AppNames;
  /** The name of a record the person holds (`undefined` when they no longer do). */
  recordName(personId: string, recordId: string): Promise<string | undefined>;
};

/** What the question page says after a post, carried in its address. */
const ANSWER_WORDS = {
  missing: 'Enter the answer to the question.',
  wrong: 'That answer is not right. Check it and try again.',
} as const;

const questionQuery = z.object({ answer: z.enum(['missing', 'wrong']).optional().catch(undefined) });
const requestParams = z.object({ id: z.uuid() });

function noStore(res: Response): void {
  res.set('Cache-Control', 'no-store');
}

export function connectRoutes({ connect, interactions, appNames, recordName }: Deps) {
  const questionPath = (pending: PendingInteraction) => `/interaction/${pending.uid}`;

  /** The secret-question page for the pending interaction's connect request; an ended request's page instead. */
  const showQuestion = async (req: Request, res: Response, pending: PendingInteraction) => {
    const request = await connect.questionOf(String(pending.prompt.details.connect_request ?? ''));
    if (!request) throw new InteractionExpired('connect request gone');
    // Answered to its end meanwhile (locked in another browser, say): the request's page says so.
    if (request.status !== 'pending' && request.status !== 'opened') return res.redirect(303, requestPage(request.id));
    const { answer } = questionQuery.parse(req.query);
    noStore(res);
    await sendPage(res, 200, 'connect/question', {
      title: 'Answer the secret question',
      clinicName: await appNames.name(request.clientId),
      friendlyName: request.friendlyName,
      question: request.question,
      attemptsLeft: WRONG_ANSWERS_TO_LOCK - request.wrongAnswers,
      action: `/interaction/${pending.uid}/${CONNECT_PROMPT}`,
      error: answer ? ANSWER_WORDS[answer] : undefined,
    });
  };

  const prompt: PromptPage = (req, res, pending) => showQuestion(req, res, pending);

  /** Where a finished step of a connect request's flow leads: the request's page. */
  const stepOver = async (uid: string): Promise<string | undefined> => {
    const standing = await connect.standingOfStep(uid);
    return standing && requestPage(standing.id);
  };

  return {
    prompts: new Map([[CONNECT_PROMPT, prompt]]),
    stepOver,

    routes({ csrf }: { csrf: Csrf }): express.Router {
      const router = express.Router();
      const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

      router.post(`/interaction/:uid/${CONNECT_PROMPT}`, form, csrf.issue, csrf.verify, async (req: Request, res: Response) => {
        let pending: PendingInteraction;
        try {
          pending = await interactions.load(req, res);
        } catch (error) {
          // The step is over (an answer sent again from a page left open): say where the request stands.
          const over = error instanceof InteractionExpired ? await stepOver(String(req.params.uid)) : undefined;
          if (!over) throw error;
          return res.redirect(303, over);
        }
        if (pending.finishedReturnTo) return res.redirect(303, pending.finishedReturnTo);
        if (pending.prompt.name !== CONNECT_PROMPT) return res.redirect(303, questionPath(pending));
        const person = personOf(res);
        if (!person || person.id !== pending.accountId) throw new InteractionExpired('not signed in');
        const answer = typeof req.body?.answer === 'string' ? req.body.answer : '';
        if (answer.trim() === '') return res.redirect(303, `${questionPath(pending)}?answer=missing`);
        const outcome = await connect.answer(String(pending.prompt.details.connect_request ?? ''), person, answer);
        if (outcome === 'wrong') return res.redirect(303, `${questionPath(pending)}?answer=wrong`);
        try {
          const next = await pending.finish(
            outcome === 'right'
              ? { prompt: { name: CONNECT_PROMPT, details: {} } }
              : { denied: `The secret question was answered wrongly ${WRONG_ANSWERS_TO_LOCK} times: the connect request is locked.` },
          );
          res.redirect(303, next);
        } catch (error) {
          if (!(error instanceof AlreadyAnswered)) throw error;
          res.redirect(303, error.returnTo ?? questionPath(pending));
        }
      });

      router.get('/connect-requests/:id', async (req: Request, res: Response) => {
        const params = requestParams.safeParse(req.params);
        const standing = params.success ? await connect.standing(params.data.id) : undefined;
        if (!standing) throw new NotFound('There is no such connect request. Check the identity code the clinic gave you and enter it again.');
        const person = personOf(res);
        const mine = Boolean(person && standing.answeredBy === person.id);
        const record = mine && person && standing.status === 'authorized' && standing.recordId ? await recordName(person.id, standing.recordId) : undefined;
        const page = standingPage(standing, await appNames.name(standing.clientId), mine, record);
        noStore(res);
        await sendPage(res, 200, 'connect/done', page);
      });

      return router;
    },
  };
}
