/**
 * What the sign-in and consent pages need from oidc-provider, in domain terms: the pending
 * interaction (who asks, for what) and the ways to finish it. Interaction routes use this instead of
 * importing oidc-provider. https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#user-flows
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Provider, { errors } from 'oidc-provider';
import { HttpError } from '../http/errors';
import { rulesOf, viewRule, type RuleView } from '../rules/app-rules';
import { describeScope, isIdentityScope, splitScopes } from '../rules/scopes';
import { HOME_CLIENT_ID } from './home-client';

export type PendingInteraction = {
  uid: string;
  prompt: 'login' | 'consent';
  /** True when carevault's own pages asked (no consent needed). */
  firstParty: boolean;
  clientId: string;
  clientName: string;
  /** Signed-in person, once the login prompt is done. */
  accountId: string | undefined;
  /** The app's rules that this request asks for, in the app's registered order. */
  rules: RuleView[];
  /** Identity scopes asked for, in words. */
  identity: string[];
  /** Identity scopes asked for, granted with any consent. */
  identityScopes: string[];
  /** Claims the request asked for that no grant holds yet. */
  missingClaims: string[];
  /** `screen_hint=signup` sends new people straight to registration. */
  wantsSignup: boolean;
  /** Set once the interaction has its result: where the browser goes to carry on. */
  finishedReturnTo: string | undefined;
};

/** The interaction cookie is missing or the interaction expired or finished. */
export class InteractionExpired extends HttpError {
  constructor(reason: string) {
    super(400, 'interaction_expired', 'This sign-in took too long or was already finished. Go back to the app and start again.');
    this.cause = reason;
  }
}

/** oidc-provider's "no such interaction" as the page that tells the person to start again. */
async function orExpired<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof errors.SessionNotFound) throw new InteractionExpired(error.message);
    throw error;
  }
}

export function createInteractions(current: () => Provider) {
  const finish = (req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>) =>
    orExpired(current().interactionFinished(req, res, result, { mergeWithLastSubmission: false }));

  return {
    async load(req: IncomingMessage, res: ServerResponse): Promise<PendingInteraction> {
      const interaction = await orExpired(current().interactionDetails(req, res));
      const clientId = String(interaction.params.client_id ?? '');
      const client = await current().Client.find(clientId);
      if (!client) throw new InteractionExpired('client gone');
      const requested = new Set(splitScopes(interaction.params.scope as string | undefined));
      const rules = rulesOf((client as unknown as { rules?: unknown }).rules)
        .filter((rule) => requested.has(rule.scope))
        .map(viewRule);
      const identityScopes = [...requested].filter(isIdentityScope);
      return {
        uid: interaction.uid,
        prompt: interaction.prompt.name === 'login' ? 'login' : 'consent',
        firstParty: clientId === HOME_CLIENT_ID,
        clientId,
        clientName: client.clientName ?? clientId,
        accountId: interaction.session?.accountId,
        rules,
        identity: identityScopes.filter((scope) => scope !== 'openid').map(describeScope),
        identityScopes,
        missingClaims: (interaction.prompt.details as { missingOIDCClaims?: string[] }).missingOIDCClaims ?? [],
        wantsSignup: interaction.params.screen_hint === 'signup',
        finishedReturnTo: interaction.result ? interaction.returnTo : undefined,
      };
    },

    /** Completes the login prompt for `accountId` and sends the browser on. */
    async finishLogin(req: IncomingMessage, res: ServerResponse, accountId: string): Promise<void> {
      await finish(req, res, { login: { accountId } });
    },

    /**
     * Saves the grant for what the person approved: exactly `granted` plus the identity scopes
     * asked, with the optional rules declined recorded so they are not asked again. An existing
     * grant (the app's authorization for the same record) is rewritten, not added to.
     * @returns the grant id and the full granted scope.
     */
    async saveGrant(
      pending: PendingInteraction,
      granted: string[],
      declined: string[],
      existingGrantId: string | null | undefined,
    ): Promise<{ grantId: string; scope: string[] }> {
      const { accountId, clientId } = pending;
      if (!accountId) throw new InteractionExpired('not signed in');
      const { Grant } = current();
      const existing = existingGrantId ? await Grant.find(existingGrantId) : undefined;
      const grant = existing && existing.accountId === accountId ? existing : new Grant({ accountId, clientId });
      const writable = grant as unknown as { openid?: unknown; rejected?: unknown };
      writable.openid = undefined;
      writable.rejected = undefined;
      const scope = [...new Set([...pending.identityScopes, ...granted])];
      if (scope.length) grant.addOIDCScope(scope.join(' '));
      if (declined.length) grant.rejectOIDCScope(declined.join(' '));
      if (pending.missingClaims.length) grant.addOIDCClaims(pending.missingClaims);
      return { grantId: await grant.save(), scope };
    },

    /** Completes the consent prompt with a saved grant and sends the browser back to the app. */
    async finishConsent(req: IncomingMessage, res: ServerResponse, grantId: string): Promise<void> {
      await finish(req, res, { consent: { grantId } });
    },

    /** Ends the interaction with `access_denied`, sent back to the app (RFC 6749 §4.1.2.1). */
    async finishDenied(req: IncomingMessage, res: ServerResponse): Promise<void> {
      await finish(req, res, { error: 'access_denied', error_description: 'The person denied access.' });
    },
  };
}

export type Interactions = ReturnType<typeof createInteractions>;
