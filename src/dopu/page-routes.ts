/**
 * The pickup pages: `/pickup` (field **Pickup code**, `?code=` from the
 * pickup URL) → sign in or create an account (the flow comes back to the code) → the question and
 * field **Answer** → the record (radio buttons named by the person, when there are several) → what
 * is inside, in plain words → **Accept** or **Decline**. Every page is `Cache-Control: no-store`;
 * each form carries only the code or the sealed ticket, never decrypted contents.
 */
import express, { type RequestHandler, type Response } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { personOf, signedInPerson } from '../http/require-person';
import { clientAddress } from '../interactions/routes';
import type { RecordService, RecordSummary } from '../records/service';
import type { Csrf } from '../security/csrf';
import { normalizePickupCode, formatPickupCode } from './codes';
import { WrongAnswer } from './errors';
import type { Offer, PickupService } from './pickup';
import { dayOf, itemsOf, type ReviewGroup } from './review';
import { answerForm, codeForm, ticketForm } from './schemas';

type Deps = { pickup: PickupService; records: RecordService; csrf: Csrf };

type Contents = { sender: string; friendlyName: string; review: ReviewGroup[] };

/** A refusal the pages show above a form, or `undefined` for an error nobody expected. */
function refusalOf(res: Response, error: unknown): { status: number; message: string } | undefined {
  if (!(error instanceof DomainError)) return undefined;
  if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
  return { status: STATUS_OF[error.kind], message: error.message };
}

export function pickupPageRoutes({ pickup, records, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  // A pickup page can show health information: never kept by the browser or a proxy.
  router.use('/pickup', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  /** The steps after the code need a signed-in person; without one, start again at the code. */
  const signedIn: RequestHandler = (_req, res, next) => {
    if (personOf(res)) next();
    else res.redirect(303, '/pickup');
  };

  const showCode = (res: Response, status: number, code: string, error?: string) => sendPage(res, status, 'dopu/code', { title: 'Pick up a package', code, error });

  const showQuestion = (res: Response, status: number, offer: Offer, error?: string) =>
    sendPage(res, status, 'dopu/question', { title: offer.friendlyName, offer, expires: dayOf(offer.expiresAt), error });

  const showRecords = (res: Response, status: number, contents: Contents, held: RecordSummary[], ticket: string, error?: string) =>
    sendPage(res, status, 'dopu/record', { title: 'Which record?', ...contents, records: held, ticket, error });

  const showReview = (res: Response, status: number, contents: Contents, record: RecordSummary, ticket: string, error?: string) =>
    sendPage(res, status, 'dopu/review', { title: 'What is in the package', ...contents, record, ticket, error });

  /** Runs a step; a refusal goes back to the code page (the start), anything else to the error handler. */
  const orBackToCode = async (res: Response, code: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      await showCode(res, refusal.status, code, refusal.message);
    }
  };

  /** `?code=` as typed, shown in its usual form when it is one. */
  const typedCode = (value: unknown) => {
    const typed = typeof value === 'string' ? value.slice(0, 40) : '';
    const code = normalizePickupCode(typed);
    return code ? formatPickupCode(code) : typed;
  };

  router.get('/pickup', csrf.issue, async (req, res) => {
    const code = typedCode(req.query.code);
    if (!code || !personOf(res)) {
      await showCode(res, 200, code);
      return;
    }
    // Back from signing in (or following the pickup URL while signed in): straight to the question.
    await orBackToCode(res, code, async () => showQuestion(res, 200, await pickup.offer(code, clientAddress(req))));
  });

  router.post('/pickup', form, csrf.issue, csrf.verify, async (req, res) => {
    const code = typedCode(codeForm.parse(req.body ?? {}).code);
    await orBackToCode(res, code, async () => {
      const offer = await pickup.offer(code, clientAddress(req));
      if (!personOf(res)) {
        res.redirect(303, `/login?return=${encodeURIComponent(`/pickup?code=${offer.code}`)}`);
        return;
      }
      await showQuestion(res, 200, offer);
    });
  });

  router.post('/pickup/answer', form, csrf.issue, csrf.verify, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const code = typedCode(body.code);
    const address = clientAddress(req);
    await orBackToCode(res, code, async () => {
      const input = answerForm.safeParse(body);
      if (!input.success) {
        await showQuestion(res, 400, await pickup.offer(code, address), firstMessage(input.error));
        return;
      }
      let opened;
      try {
        opened = await pickup.answer(code, input.data.answer, who, address);
      } catch (error) {
        if (!(error instanceof WrongAnswer)) throw error;
        await showQuestion(res, 400, await pickup.offer(code, address), error.message);
        return;
      }
      const contents = { sender: opened.offer.sender, friendlyName: opened.offer.friendlyName, review: opened.review };
      const held = await records.recordsOf(who.id);
      const [only] = held;
      if (held.length === 1 && only) await showReview(res, 200, contents, only, opened.ticket);
      else await showRecords(res, 200, contents, held, opened.ticket);
    });
  });

  router.post('/pickup/review', form, csrf.issue, csrf.verify, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    await orBackToCode(res, '', async () => {
      const parsed = ticketForm.safeParse(req.body ?? {});
      if (!parsed.success) {
        await showCode(res, 400, '', 'This form was changed or is incomplete. Enter the pickup code to start again.');
        return;
      }
      const input = parsed.data;
      const contents = await pickup.review(input.ticket, who);
      const held = await records.recordsOf(who.id);
      const record = held.find((candidate) => candidate.id === input.record);
      if (!record) {
        await showRecords(res, 400, contents, held, input.ticket, 'Choose the record it goes into.');
        return;
      }
      await showReview(res, 200, contents, record, input.ticket);
    });
  });

  router.post('/pickup/finish', form, csrf.issue, csrf.verify, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    const input = ticketForm.safeParse(req.body ?? {});
    if (!input.success || !input.data.decision) {
      await showCode(res, 400, '', 'Choose Accept or Decline on the package page. Enter the pickup code to start again.');
      return;
    }
    const { ticket, record, decision } = input.data;
    try {
      if (decision === 'decline') {
        const { sender } = await pickup.decline(ticket, who);
        await sendPage(res, 200, 'dopu/done', { title: 'Package declined', message: `You declined the package from ${sender}. Its contents were deleted.` });
        return;
      }
      const done = await pickup.accept(ticket, who, record ?? '');
      await sendPage(res, 200, 'dopu/done', {
        title: 'Package picked up',
        message: `${itemsOf(done.count)} from ${done.sender} ${done.count === 1 ? 'is' : 'are'} now in ${done.record.name}’s record.`,
        record: done.record,
      });
    } catch (error) {
      const refusal = refusalOf(res, error);
      if (!refusal) throw error;
      await sendPage(res, refusal.status, 'dopu/done', { title: decision === 'decline' ? 'Not declined' : 'Not picked up', message: refusal.message });
    }
  });

  return router;
}
