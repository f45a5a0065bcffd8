/**
 * The pickup pages: `/pickup` (field **Pickup code**, `?code=` from the pickup URL) → sign in or
 * create an account (the flow comes back to the code) → the question and field **Answer** →
 * `/pickup/record` (radio buttons named by the person, when there are several) → `/pickup/review`
 * (what is inside, in plain words; **Accept** or **Decline**) → `/pickup/done` (or, for a package
 * carrying a clinical document, the review of its items: `/records/:id/documents/:id/items`).
 *
 * Every form answers with a 303 to a page that shows the state as it is (Post/Redirect/Get), so
 * reload and Back never resubmit a form. What a GET shows comes from the database (the package's
 * status and tries left) and, for the steps after a right answer, from the browser's pickup step
 * (steps.ts: server-side, bound to this browser's cookie and the signed-in person) — never from a
 * URL parameter. A refusal at the code or the answer travels to the next page in a signed cookie of
 * that one response (`cv.pickup.said`), so concurrent answers each learn their own outcome; the
 * page it leads to answers with the refusal's status. Every page is `Cache-Control: no-store`.
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { personOf, signedInPerson } from '../http/require-person';
import { clientAddress } from '../http/client-address';
import { allows } from '../records/access';
import type { RecordService, RecordSummary } from '../records/service';
import type { Csrf } from '../security/csrf';
import { randomToken } from '../security/secrets';
import { normalizePickupCode, formatPickupCode } from './codes';
import { WrongAnswer } from './errors';
import type { Offer, PickupService } from './pickup';
import { dayOf, itemsOf } from './review';
import { answerForm, codeForm, decisionForm, recordForm } from './schemas';
import type { PickupSteps, Step } from './steps';

type Deps = { pickup: PickupService; steps: PickupSteps; records: RecordService; csrf: Csrf; secure: boolean };

/** The browser's pickup cookie: a random value whose SHA-256 names its step (steps.ts). */
const BROWSER_COOKIE = 'cv.pickup';
/** What the last code or answer was told, for the page it redirects to. */
const SAID_COOKIE = 'cv.pickup.said';
const SAID_SECONDS = 120;

/** A refusal carried to the next page: which code it was about, what to show, the status, and a wait. */
const said = z.object({
  code: z.string().max(40),
  message: z.string().max(1000),
  status: z.number().int().min(400).max(499),
  at: z.enum(['code', 'question']),
  wait: z.number().int().optional(),
});
type Said = z.infer<typeof said>;

const EXPIRED_STEP = 'This pickup took too long, or was finished in another window. Enter the pickup code and the answer again.';

/** A refusal the pages show above a form, or `undefined` for an error nobody expected. */
function refusalOf(error: unknown): { status: number; message: string; wait?: number } | undefined {
  if (!(error instanceof DomainError)) return undefined;
  return { status: STATUS_OF[error.kind], message: error.message, ...(error instanceof TooManyAttempts ? { wait: error.retryAfterSeconds } : {}) };
}

export function pickupPageRoutes({ pickup, steps, records, csrf, secure }: Deps): express.Router {
  const router = express.Router();
  /** The records a package may go into: those the person holds at a level that changes them. */
  const writableRecords = async (personId: string) => (await records.recordsOf(personId)).filter((record) => allows(record.access, 'change'));
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/pickup' };

  // A pickup page can show health information: never kept by the browser or a proxy. Every
  // browser gets its pickup cookie on its first pickup page, so concurrent forms share one step.
  router.use('/pickup', (req, res, next) => {
    res.set('Cache-Control', 'no-store');
    if (!browserOf(req)) {
      const value = randomToken(32);
      req.cookies = { ...req.cookies, [BROWSER_COOKIE]: value };
      res.cookie(BROWSER_COOKIE, value, cookieOptions);
    }
    next();
  });

  const browserOf = (req: Request): string => {
    const value: unknown = req.cookies?.[BROWSER_COOKIE];
    return typeof value === 'string' && value.length >= 32 && value.length <= 64 ? value : '';
  };

  /** The steps after the code need a signed-in person; without one, start again at the code. */
  const signedIn: RequestHandler = (_req, res, next) => {
    if (personOf(res)) next();
    else res.redirect(303, '/pickup');
  };

  /** Redirects to `where` with what the code or answer was told (a signed cookie of this response only). */
  const sayThen = (res: Response, where: string, told: Said) => {
    res.cookie(SAID_COOKIE, Buffer.from(JSON.stringify(told)).toString('base64url'), { ...cookieOptions, signed: true, maxAge: SAID_SECONDS * 1000 });
    res.redirect(303, where);
  };

  const saidOf = (req: Request, code: string): Said | undefined => {
    const value: unknown = req.signedCookies?.[SAID_COOKIE];
    if (typeof value !== 'string') return undefined;
    try {
      const parsed = said.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
      return parsed.success && parsed.data.code === code ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  };

  const forget = (res: Response) => res.clearCookie(SAID_COOKIE, cookieOptions);

  const questionAt = (code: string) => `/pickup?code=${encodeURIComponent(code)}`;

  const showCode = (res: Response, status: number, code: string, error?: string, wait?: number) => {
    if (wait) res.set('Retry-After', String(wait));
    return sendPage(res, status, 'dopu/code', { title: 'Pick up a package', code, error });
  };

  const showQuestion = (res: Response, status: number, offer: Offer, step: Step | undefined, error?: string, wait?: number) => {
    if (wait) res.set('Retry-After', String(wait));
    const answered = step?.stage === 'opened' && step.package_id === offer.id;
    return sendPage(res, status, 'dopu/question', { title: offer.friendlyName, offer, expires: dayOf(offer.expiresAt), answered, error });
  };

  /** `?code=` or a form's code as typed, shown in its usual form when it is one. */
  const typedCode = (value: unknown) => {
    // Well formed: a lone surrogate (or one cut in half here) cannot go into a URL or a cookie.
    const typed = typeof value === 'string' ? value.slice(0, 40).toWellFormed() : '';
    const code = normalizePickupCode(typed);
    return code ? formatPickupCode(code) : typed;
  };

  /**
   * The step of this browser and person that is still open (a right answer, not yet ended); without
   * one, `undefined` after redirecting where the browser goes instead: the end it reached, or the
   * start with why.
   */
  const openStep = async (req: Request, res: Response): Promise<(Step & { ticket: string }) | undefined> => {
    const step = await steps.current(browserOf(req), signedInPerson(res).id);
    if (step?.stage === 'opened' && step.ticket) return { ...step, ticket: step.ticket };
    if (step && step.stage !== 'opened') res.redirect(303, '/pickup/done');
    else sayThen(res, '/pickup', { code: '', message: EXPIRED_STEP, status: 400, at: 'code' });
    return undefined;
  };

  router.get('/pickup', csrf.issue, async (req, res) => {
    const code = typedCode(req.query.code);
    const person = personOf(res);
    const told = saidOf(req, code);
    if (told?.at === 'code' || !code || !person) {
      await showCode(res, told?.status ?? 200, code, told?.message, told?.wait);
      return;
    }
    // Back from signing in, following the pickup URL, or after an answer: the question as the package stands.
    const step = await steps.current(browserOf(req), person.id);
    let offer: Offer;
    try {
      offer = await pickup.offer(code, clientAddress(req));
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      // This browser ended this very package's pickup: show how it ended rather than "already picked up".
      if (step && step.stage !== 'opened' && step.package_id === (await pickup.packageIdOf(code))) {
        res.redirect(303, '/pickup/done');
        return;
      }
      // What the answer was told (the third wrong one locks) before what the package says now.
      await showCode(res, told?.status ?? refusal.status, code, told?.message ?? refusal.message, told?.wait ?? refusal.wait);
      return;
    }
    await showQuestion(res, told?.status ?? 200, offer, step, told?.message, told?.wait);
  });

  router.post('/pickup', form, csrf.issue, csrf.verify, async (req, res) => {
    // Whatever was typed, at most its first 40 characters: a longer one is refused as not a code.
    const input = codeForm.safeParse(req.body ?? {});
    const code = typedCode(input.success ? input.data.code : (req.body as Record<string, unknown> | undefined)?.code);
    try {
      const offer = await pickup.offer(code, clientAddress(req));
      forget(res);
      if (!personOf(res)) res.redirect(303, `/login?return=${encodeURIComponent(questionAt(offer.code))}`);
      else res.redirect(303, questionAt(offer.code));
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      sayThen(res, questionAt(code), { code, ...refusal, at: 'code' });
    }
  });

  router.post('/pickup/answer', form, csrf.issue, csrf.verify, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const code = typedCode(body.code);
    const input = answerForm.safeParse(body);
    if (!input.success) {
      sayThen(res, questionAt(code), { code, message: firstMessage(input.error), status: 400, at: 'question' });
      return;
    }
    try {
      const opened = await pickup.answer(code, input.data.answer, who, clientAddress(req));
      const held = await writableRecords(who.id);
      const only = held.length === 1 ? held[0]?.id : undefined;
      await steps.opened(browserOf(req), who.id, opened.offer.id, opened.ticket, only);
      forget(res);
      res.redirect(303, only ? '/pickup/review' : '/pickup/record');
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      // A wrong answer goes back to the question (with the tries left); a package that ended, to the code.
      sayThen(res, questionAt(code), { code, ...refusal, at: error instanceof WrongAnswer ? 'question' : 'code' });
    }
  });

  /** The contents of the open step's package, or `undefined` once the step was ended for why. */
  const contentsOf = async (req: Request, res: Response, step: Step & { ticket: string }) => {
    const who = signedInPerson(res);
    try {
      return await pickup.review(step.ticket, who);
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      await steps.ended(browserOf(req), who.id, 'refused', refusal.message);
      res.redirect(303, '/pickup/done');
      return undefined;
    }
  };

  router.get('/pickup/record', csrf.issue, signedIn, async (req, res) => {
    const step = await openStep(req, res);
    if (!step) return undefined;
    const contents = await contentsOf(req, res, step);
    if (!contents) return undefined;
    const held = await writableRecords(signedInPerson(res).id);
    const chosen = held.some((record) => record.id === step.record_id) ? step.record_id : held[0]?.id;
    return sendPage(res, step.notice ? 400 : 200, 'dopu/record', {
      title: 'Which record?',
      ...contents,
      records: held,
      chosen,
      error: step.notice ?? undefined,
    });
  });

  router.post('/pickup/record', form, csrf.issue, csrf.verify, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    const step = await openStep(req, res);
    if (!step) return undefined;
    const input = recordForm.safeParse(req.body ?? {});
    const held = await writableRecords(who.id);
    const record = input.success ? held.find((candidate) => candidate.id === input.data.record) : undefined;
    if (!record) {
      await steps.noted(browserOf(req), who.id, 'Choose the record it goes into.');
      return res.redirect(303, '/pickup/record');
    }
    await steps.chose(browserOf(req), who.id, record.id);
    return res.redirect(303, '/pickup/review');
  });

  router.get('/pickup/review', csrf.issue, signedIn, async (req, res) => {
    const step = await openStep(req, res);
    if (!step) return undefined;
    const held = await writableRecords(signedInPerson(res).id);
    const record = held.find((candidate) => candidate.id === step.record_id);
    if (!record) return res.redirect(303, '/pickup/record');
    const contents = await contentsOf(req, res, step);
    if (!contents) return undefined;
    return sendPage(res, 200, 'dopu/review', { title: 'What is in the package', ...contents, record, choose: held.length > 1 });
  });

  router.post('/pickup/finish', form, csrf.issue, csrf.verify, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    const browser = browserOf(req);
    const step = await openStep(req, res);
    if (!step) return undefined;
    const input = decisionForm.safeParse(req.body ?? {});
    if (!input.success) return res.redirect(303, '/pickup/review');
    const { decision } = input.data;
    // A package carrying a clinical document goes on, once accepted, to the review of its items.
    let next = '/pickup/done';
    try {
      // The step ends in the pickup's own transaction: a racing second Accept of this browser waits
      // for it on the package's lock, is refused, and finds the step ended already.
      await steps.atomically(async () => {
        if (decision === 'decline') {
          const { sender } = await pickup.decline(step.ticket, who);
          await steps.ended(browser, who.id, 'declined', `You declined the package from ${sender}. Its contents were deleted.`);
        } else {
          const done = await pickup.accept(step.ticket, who, step.record_id ?? '');
          const verb = done.count === 1 ? 'is' : 'are';
          await steps.ended(browser, who.id, 'picked_up', `${itemsOf(done.count)} from ${done.sender} ${verb} now in ${done.record.name}’s record.`);
          const [document] = done.clinicalDocuments;
          if (document) next = `/records/${done.record.id}/documents/${document}/items`;
        }
      });
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      await steps.ended(browser, who.id, 'refused', refusal.message);
    }
    return res.redirect(303, next);
  });

  /** How this browser's pickup ended, as it stands now (the record's name as it is today). */
  router.get('/pickup/done', csrf.issue, signedIn, async (req, res) => {
    const who = signedInPerson(res);
    const step = await steps.current(browserOf(req), who.id);
    if (!step || step.stage === 'opened') return res.redirect(303, step ? '/pickup/review' : '/pickup');
    let record: RecordSummary | undefined;
    if (step.stage === 'picked_up' && step.record_id) record = (await records.recordsOf(who.id)).find((held) => held.id === step.record_id);
    const title =
      step.stage === 'picked_up'
        ? record
          ? `Picked up into ${record.name}’s record`
          : 'Package picked up'
        : step.stage === 'declined'
          ? 'Package declined'
          : 'Not picked up';
    return sendPage(res, 200, 'dopu/done', { title, message: step.notice ?? '', record, stage: step.stage });
  });

  return router;
}
