/**
 * The routes of the `login` prompt, under /interaction/:uid: the password (then, for a person with
 * two-step sign-in, a code — RFC 6238, or a recovery code — before the login is answered with its
 * `amr` (RFC 8176) and `acr`), the code alone for a signed-in person an app asked to step up, a
 * passkey (WebAuthn) as that second step or alone instead of the password, and registration.
 * A refused sign-in or registration answers 303 to its form's page, which shows the refusal once
 * (Post/Redirect/Get: Back and reload never resubmit). A registration answers the same "Check your
 * email" page whether or not the email already has an account (the mail differs, not the page);
 * its **Continue** signs the new person in, or, for a taken email, opens the sign-in form — the one
 * step where the two part, as they must once the person goes on (a new account is usable at once).
 */
import type { Response } from 'express';
import { z } from 'zod';
import { registrationForm, signInForm } from '../accounts/schemas';
import type { AccountService } from '../accounts/service';
import { clientAddress } from '../http/client-address';
import { firstMessage } from '../http/forms';
import { passwordPassed, registrations } from './cookies';
import { ACR_PASSWORD, ACR_TWO_STEP, type PendingInteraction } from './pending';
import type { SecondStepAt, SignInPages } from './sign-in-pages';
import type { InteractionSteps, StepRoutes } from './steps';

/** The second step's one field: 6 digits or a recovery code (checked by the service). */
const codeForm = z.object({ code: z.string().trim().min(1, 'Type the code.').max(40, 'That code is too long.') });

/** A passkey's answer, as the page's script puts it in the form (JSON, checked by the service). */
const passkeyForm = z.object({ credential: z.string().catch('').pipe(z.string().max(32_000)) });

type Deps = { steps: InteractionSteps; pages: SignInPages; accounts: AccountService };

export function signInRoutes(routes: StepRoutes, { steps, pages, accounts }: Deps): void {
  const { base, answer, attempt, showStep } = steps;
  const { passkeys, backToForm, showForm, secondStepOf, showCode } = pages;

  /** A refused second step, shown on its page (with how long to wait when a limit refused it). */
  const refuseAtCode = (res: Response, pending: PendingInteraction, second: SecondStepAt) => async (status: number, message: string, retryAfter?: number) => {
    if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
    await showCode(res, pending, second, status, message);
  };

  routes.page('/interaction/:uid/register', 'login', async (req, res, pending) => {
    await showForm(req, res, pending, 'register');
  });

  routes.page('/interaction/:uid/registered', 'login', async (req, res, pending) => {
    const registered = registrations.of(req, pending.uid);
    if (!registered) {
      res.redirect(303, base(pending));
      return;
    }
    await showStep(res, pending, 200, 'registered', { title: 'Check your email', action: `${base(pending)}/registered`, email: registered.email });
  });

  routes.post('/interaction/:uid/registered', 'login', async (req, res, pending) => {
    const registered = registrations.of(req, pending.uid);
    registrations.clear(req, res, pending.uid);
    const person = registered ? await accounts.findPerson(registered.id) : undefined;
    if (!registered || !person) {
      // A taken email (or a wait too long): the sign-in form, with the email filled in.
      backToForm(req, res, pending, { form: 'signin', status: 200, name: '', email: registered?.email ?? '' });
      return;
    }
    await answer(res, () => pending.finish({ login: { accountId: person.id, amr: ['pwd'], acr: ACR_PASSWORD } }));
  });

  routes.post('/interaction/:uid/login', 'login', async (req, res, pending) => {
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
        passwordPassed.set(req, res, pending.uid, person.id);
        return base(pending);
      },
      async (status, error, retryAfter) => backToForm(req, res, pending, { form: 'signin', status, error, retryAfter, name: '', email }),
    );
  });

  routes.post('/interaction/:uid/code', 'login', async (req, res, pending) => {
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
        passwordPassed.clear(req, res, pending.uid);
        // RFC 8176: a recovery code is a one-time password too; with the password, two factors.
        return pending.finish({ login: { accountId: second.personId, amr: ['pwd', 'otp', 'mfa'], acr: ACR_TWO_STEP } });
      },
      refuseAtCode(res, pending, second),
    );
  });

  /**
   * A passkey ceremony's options: for the second step of the person at it (their passkeys), else for
   * signing in with a passkey alone (any discoverable one), bound to this interaction.
   */
  routes.post('/interaction/:uid/passkey/options', 'login', async (req, res, pending) => {
    const offered = passkeys();
    if (!offered) {
      res.status(404).json({ error: 'not_found', error_description: 'Passkeys are not offered here.' });
      return;
    }
    const second = secondStepOf(req, pending);
    res.set('Cache-Control', 'no-store').json({ publicKey: await offered.options(second ? { personId: second.personId } : { interaction: pending.uid }) });
  });

  /**
   * The passkey's answer: after the password (or for a step-up) it is the second step, `amr` gaining
   * `hwk` or `swk` and `mfa`; alone it signs the person in, two factors by itself (possession and
   * the user verification every ceremony requires), so it meets {@link ACR_TWO_STEP}.
   */
  routes.post('/interaction/:uid/passkey', 'login', async (req, res, pending) => {
    const offered = passkeys();
    if (!offered) {
      res.redirect(303, base(pending));
      return;
    }
    const second = secondStepOf(req, pending);
    // A refused second step is shown on its page; a refused passkey alone goes back to the sign-in form, as a refused password does.
    const refuse = second
      ? refuseAtCode(res, pending, second)
      : async (status: number, message: string, retryAfter?: number) =>
          backToForm(req, res, pending, { form: 'signin', status, error: message, retryAfter, name: '', email: '' });
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
          passwordPassed.clear(req, res, pending.uid);
          return pending.finish({ login: { accountId: second.personId, amr: ['pwd', kind, 'mfa'], acr: ACR_TWO_STEP } });
        }
        const { personId, kind } = await offered.verify(input.data.credential, { interaction: pending.uid });
        return pending.finish({ login: { accountId: personId, amr: [kind], acr: ACR_TWO_STEP } });
      },
      refuse,
    );
  });

  routes.post('/interaction/:uid/restart', 'login', async (req, res, pending) => {
    passwordPassed.clear(req, res, pending.uid);
    res.redirect(303, base(pending));
  });

  routes.post('/interaction/:uid/register', 'login', async (req, res, pending) => {
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
        registrations.set(req, res, { uid: pending.uid, id, email: input.data.email });
        return `${base(pending)}/registered`;
      },
      async (status, error, retryAfter) => backToForm(req, res, pending, { form: 'register', status, error, retryAfter, ...values }),
    );
  });
}
