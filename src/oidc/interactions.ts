/**
 * The pending interaction (interactions/pending.ts) over oidc-provider: who asks, for what, at
 * which prompt and why, and the ways to answer. Answers are recorded with `interactionResult`
 * (not `interactionFinished`), so a service can record one inside its transaction and send the
 * browser on after the commit. https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#user-flows
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import { nameOfApp } from '../apps/names';
import type { Database } from '../db';
import { AlreadyAnswered, InteractionExpired, type InteractionOutcome, type PendingInteraction } from '../interactions/pending';
import { rulesOf, viewRule } from '../rules/app-rules';
import { describeScope, isIdentityScope, splitScopes } from '../rules/scopes';
import { HOME_CLIENT_ID } from './home-client';

/** oidc-provider's "no such interaction" as the page that tells the person to start again. */
async function orExpired<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof errors.SessionNotFound) throw new InteractionExpired(error.message);
    throw error;
  }
}

function resultOf(outcome: InteractionOutcome): InteractionResults {
  if ('login' in outcome) return { login: { accountId: outcome.login.accountId } };
  if ('consent' in outcome) return { consent: { grantId: outcome.consent.grantId } };
  if ('denied' in outcome) return { error: 'access_denied', error_description: outcome.denied };
  return { [outcome.prompt.name]: outcome.prompt.details };
}

/** A registered URL to show a person: oidc-provider checked it is a web URI; only http(s) is linked. */
function webUri(value: unknown): string | undefined {
  if (typeof value !== 'string' || !URL.canParse(value)) return undefined;
  return ['https:', 'http:'].includes(new URL(value).protocol) ? value : undefined;
}

export function createInteractions(current: () => Provider, db: Database) {
  return {
    /** The interaction the browser is in (its cookie says which). */
    async load(req: IncomingMessage, res: ServerResponse): Promise<PendingInteraction> {
      const provider = current();
      const interaction = await orExpired(provider.interactionDetails(req, res));
      const clientId = typeof interaction.params.client_id === 'string' ? interaction.params.client_id : '';
      const client = clientId ? await provider.Client.find(clientId) : undefined;
      if (!client) throw new InteractionExpired('client gone');
      const requested = new Set(splitScopes(interaction.params.scope as string | undefined));
      const rules = rulesOf((client as unknown as { rules?: unknown }).rules)
        .filter((rule) => requested.has(rule.scope))
        .map(viewRule);
      const identityScopes = [...requested].filter(isIdentityScope);
      const missingClaims = (interaction.prompt.details as { missingOIDCClaims?: string[] }).missingOIDCClaims ?? [];
      const accountId = interaction.session?.accountId;

      return {
        uid: interaction.uid,
        prompt: { name: interaction.prompt.name, reasons: [...interaction.prompt.reasons], details: { ...interaction.prompt.details } },
        firstParty: clientId === HOME_CLIENT_ID,
        clientId,
        clientName: nameOfApp(clientId, client.clientName),
        clientLinks: { logo: webUri(client.logoUri), policy: webUri(client.policyUri), terms: webUri(client.tosUri) },
        accountId,
        sessionUid: interaction.session?.uid,
        rules,
        identity: identityScopes.filter((scope) => scope !== 'openid').map(describeScope),
        identityScopes,
        wantsSignup: interaction.params.screen_hint === 'signup',
        finishedReturnTo: interaction.result ? interaction.returnTo : undefined,

        async saveGrant({ existingGrantId, granted, declined }) {
          if (!accountId) throw new InteractionExpired('not signed in');
          const { Grant } = current();
          const existing = existingGrantId ? await Grant.find(existingGrantId) : undefined;
          const grant = existing && existing.accountId === accountId ? existing : new Grant({ accountId, clientId });
          // What the person approves now replaces what the grant held.
          const writable = grant as unknown as { openid?: unknown; rejected?: unknown };
          writable.openid = undefined;
          writable.rejected = undefined;
          const scope = [...new Set([...identityScopes, ...granted])];
          if (scope.length) grant.addOIDCScope(scope.join(' '));
          if (declined.length) grant.rejectOIDCScope(declined.join(' '));
          if (missingClaims.length) grant.addOIDCClaims(missingClaims);
          return grant.save();
        },

        async finish(outcome) {
          return db.transaction(async () => {
            // One answer per interaction: a second submission waits for the first, then finds its answer.
            await db.lock(`interaction:${interaction.uid}`);
            const stored = await current().Interaction.find(interaction.uid);
            if (!stored) throw new InteractionExpired('interaction gone');
            if (stored.result) throw new AlreadyAnswered(stored.returnTo);
            return orExpired(current().interactionResult(req, res, resultOf(outcome), { mergeWithLastSubmission: false }));
          });
        },
      };
    },
  };
}

export type Interactions = ReturnType<typeof createInteractions>;
