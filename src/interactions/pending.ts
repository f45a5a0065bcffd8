/**
 * A pending interaction of the authorization flow, in domain terms: who asks (the app), for what
 * (its rules, the identity scopes), at which step (the prompt), and the ways to answer it. The
 * OpenID core implements it (oidc/interactions.ts); pages and services use only this.
 */
import { Conflict, Invalid } from '../errors';
import type { RuleView } from '../rules/app-rules';

/** Authentication context classes (OIDC Core §2 `acr`): the password alone, or the password and a second step. */
export const ACR_PASSWORD = 'urn:carevault:acr:pwd';
export const ACR_TWO_STEP = 'urn:carevault:acr:2fa';

/** Why the login prompt asks a signed-in person again: the app asked for {@link ACR_TWO_STEP} and the session lacks it. */
export const STEP_UP_REASON = 'two_step_required';

/** What the person's answer to an interaction was. */
export type InteractionOutcome =
  /** `amr`: how they signed in (RFC 8176: `pwd`, `otp`, `mfa`); `acr`: which of the classes above that makes. */
  | { login: { accountId: string; amr: readonly string[]; acr: string } }
  /** `recordId`: the record the person allowed the app to reach (carevault's own pages have none). */
  | { consent: { grantId: string; recordId?: string | undefined } }
  | { denied: string; recordId?: string | undefined }
  /** A prompt of carevault's own (e.g. a secret question) was answered. */
  | { prompt: { name: string; details: Record<string, unknown> } };

export type PendingInteraction = {
  uid: string;
  /** The step the flow is at (`login`, `consent`, or a prompt of carevault's own), why, and what that prompt said of it. */
  prompt: { name: string; reasons: readonly string[]; details: Readonly<Record<string, unknown>> };
  /** True when carevault's own pages asked (no consent needed). */
  firstParty: boolean;
  clientId: string;
  clientName: string;
  /** What the app registered about itself (RFC 7591 §2 `logo_uri`, `policy_uri`, `tos_uri`), http(s) only. */
  clientLinks: { logo?: string | undefined; policy?: string | undefined; terms?: string | undefined };
  /** Signed-in person, once the login prompt is done. */
  accountId: string | undefined;
  /** The sign-in session the interaction belongs to. */
  sessionUid: string | undefined;
  /** The app's rules that this request asks for, in the app's registered order. */
  rules: RuleView[];
  /** Identity scopes asked for, in words. */
  identity: string[];
  /** Identity scopes asked for, granted with any consent. */
  identityScopes: string[];
  /** `screen_hint=signup` sends new people straight to registration. */
  wantsSignup: boolean;
  /** Set once the interaction has its result: where the browser goes to carry on. */
  finishedReturnTo: string | undefined;
  /**
   * Saves the grant for what the person approved: the identity scopes asked plus `granted`, with
   * `declined` recorded so they are not asked again. `existingGrantId` (the app's grant for the
   * record) is rewritten, not added to, when it is the same person's. Returns the grant's id.
   */
  saveGrant(approval: { existingGrantId: string | null | undefined; granted: readonly string[]; declined: readonly string[] }): Promise<string>;
  /**
   * Records the person's answer and returns where the browser goes on.
   * @throws AlreadyAnswered when another submission answered first.
   */
  finish(outcome: InteractionOutcome): Promise<string>;
};

/** The interaction cookie is missing, or the interaction expired or finished. */
export class InteractionExpired extends Invalid {
  constructor(reason: string) {
    super('This sign-in took too long or was already finished. Go back to the app and start again.', 'interaction_expired');
    this.cause = reason;
  }
}

/**
 * An answer from a browser whose sign-in id is no longer live while the interaction's sign-in is
 * (another tab's step renewed it while this answer was on its way): the answer is not taken, and
 * the person is told so, never shown the question again as if they had not answered.
 */
export class SignInRenewed extends Invalid {
  constructor() {
    super(
      'Your sign-in in this browser changed in another tab while you answered, so this answer was not taken. Go back to the app and start again.',
      'interaction_expired',
    );
  }
}

/** A second submission of an interaction that already has its answer (a double click, two tabs). */
export class AlreadyAnswered extends Conflict {
  constructor(
    /** Where the first answer sends the browser, while it has not gone there yet. */
    readonly returnTo: string | undefined,
  ) {
    super('This request was already answered. Go back to the app to carry on.', 'already_answered');
  }
}
