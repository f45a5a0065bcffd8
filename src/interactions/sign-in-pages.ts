/**
 * The pages of the `login` prompt: the sign-in form (with **Sign in with a passkey** when passkeys are
 * offered), the registration form, and the second step (a code, or **Use a passkey**). A refused form
 * is carried back to its page by a one-time notice (cookies.ts), so the page shows it once.
 */
import type { Request, Response } from 'express';
import type { AccountService } from '../accounts/service';
import { notices, passwordPassed, type Notice } from './cookies';
import { STEP_UP_REASON, type PendingInteraction } from './pending';
import type { InteractionSteps } from './steps';

/** Who is at the second step of an interaction, and whether an app asked a signed-in person to step up. */
export type SecondStepAt = { personId: string; stepUp: boolean };

export function signInPages({ steps, accounts }: { steps: InteractionSteps; accounts: AccountService }) {
  const { base, showStep } = steps;
  const passkeys = () => accounts.secondStep()?.passkeys;

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

  return {
    passkeys,

    /** Answers with 303 to the form's page, which shows `notice` once (a refusal, or what to fill in). */
    backToForm(req: Request, res: Response, pending: PendingInteraction, notice: Omit<Notice, 'uid'>): void {
      notices.set(req, res, { uid: pending.uid, ...notice });
      res.redirect(303, notice.form === 'register' ? `${base(pending)}/register` : `${base(pending)}?form=signin`);
    },

    /** Shows the sign-in or registration form, with the notice a refusal left for it. */
    async showForm(req: Request, res: Response, pending: PendingInteraction, wanted: Notice['form']): Promise<void> {
      const notice = notices.take(req, res, pending.uid);
      const form = notice?.form ?? wanted;
      if (notice?.retryAfter !== undefined) res.set('Retry-After', String(notice.retryAfter));
      const status = notice?.status ?? 200;
      if (form === 'register') await showRegister(res, pending, status, { name: notice?.name ?? '', email: notice?.email ?? '' }, notice?.error);
      else await showSignIn(res, pending, status, notice?.email ?? '', notice?.error);
    },

    /**
     * Who is at the second step of this interaction: the person whose password passed here (the
     * cookie), or — when an app asked a signed-in person to step up — the session's person.
     */
    secondStepOf(req: Request, pending: PendingInteraction): SecondStepAt | undefined {
      const passed = passwordPassed.of(req, pending.uid);
      if (passed) return { personId: passed, stepUp: false };
      if (pending.accountId && pending.prompt.reasons.includes(STEP_UP_REASON)) return { personId: pending.accountId, stepUp: true };
      return undefined;
    },

    /** The second step: **Code**, and **Use a passkey** for a person who has one. */
    async showCode(res: Response, pending: PendingInteraction, second: SecondStepAt, status = 200, error?: string): Promise<void> {
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
    },
  };
}

export type SignInPages = ReturnType<typeof signInPages>;
