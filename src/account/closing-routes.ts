/**
 * The close-account pages: `/account/close` (which records are erased and which stay with the
 * others who look after them, **Download my record** for each first, then field **Password** — and
 * **Code** when the person has two-step sign-in, or **Use a passkey** when they have one — and button
 * **Close my account**), and
 * `/account/closed`, which says it is done. The form answers 303 to `/account/closed`; a refusal
 * re-shows the form with its words. Every page is `no-store` (the account router sets it).
 */
import express, { type Request, type Response } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import type { Csrf } from '../security/csrf';
import type { AccountClosing } from './closing';
import { ACCOUNT_CLOSED } from './closing-words';
import { closeForm } from './schemas';

type Deps = { closing: AccountClosing; csrf: Csrf };

export function accountClosingRoutes({ closing, csrf }: Deps): express.Router {
  const router = express.Router();
  // The form may carry a passkey's answer (a few kilobytes) instead of the code.
  const form = express.urlencoded({ extended: false, limit: '40kb', parameterLimit: 10 });

  const showClose = async (res: Response, status: number, error?: string) => {
    const person = signedInPerson(res);
    const [records, secondStep, passkey] = await Promise.all([closing.plan(person.id), closing.asksSecondStep(person.id), closing.offersPasskey(person.id)]);
    await sendPage(res, status, 'account/close', { title: 'Close your account', records, secondStep, passkey, error });
  };

  router.get('/account/close', requirePerson, csrf.issue, async (_req, res) => showClose(res, 200));

  router.post('/account/close', requirePerson, form, csrf.issue, csrf.verify, async (req: Request, res) => {
    const input = closeForm.safeParse(req.body ?? {});
    if (!input.success) return showClose(res, 400, firstMessage(input.error));
    try {
      // Closed by this request or by one racing it: either way the account is closed now.
      await closing.close(signedInPerson(res), { password: input.data.password, secondStep: input.data.code, passkey: input.data.credential || undefined });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
      return showClose(res, STATUS_OF[error.kind], error.message);
    }
    return res.redirect(303, '/account/closed');
  });

  router.get('/account/closed', async (_req, res) => {
    await sendPage(res, 200, 'pages/message', {
      title: 'Your account is closed',
      message: ACCOUNT_CLOSED,
      link: { href: '/register', text: 'Create an account' },
    });
  });

  return router;
}
