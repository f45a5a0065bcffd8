/**
 * The pending interaction (interactions/pending.ts) over oidc-provider: who asks, for what, at
 * which prompt and why, and the ways to answer. Answers are recorded with `interactionResult`
 * (not `interactionFinished`), so a service can record one inside its transaction and send the
 * browser on after the commit. https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#user-flows
 * Each step is also traced (interactions/store.ts) so a step reached again after oidc-provider let
 * its interaction go can be told truthfully: finished, carried on in a later step, or dead — and
 * then the way back to the app is an error response (RFC 6749 §4.1.2.1) to a redirect_uri the
 * client still has registered, with the request's state.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import { nameOfApp } from '../apps/names';
import type { Database } from '../db';
import { AlreadyAnswered, InteractionExpired, type InteractionOutcome, type PendingInteraction } from '../interactions/pending';
import type { TraceOutcome, TraceRow, TraceStore } from '../interactions/store';
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
  if ('login' in outcome) return { login: { accountId: outcome.login.accountId, amr: [...outcome.login.amr], acr: outcome.login.acr } };
  if ('consent' in outcome) return { consent: { grantId: outcome.consent.grantId } };
  if ('denied' in outcome) return { error: 'access_denied', error_description: outcome.denied };
  return { [outcome.prompt.name]: outcome.prompt.details };
}

function traceOutcomeOf(outcome: InteractionOutcome): { outcome: TraceOutcome; recordId?: string | undefined } {
  if ('login' in outcome) return { outcome: 'signed_in' };
  if ('consent' in outcome) return { outcome: 'allowed', recordId: outcome.consent.recordId };
  if ('denied' in outcome) return { outcome: 'denied', recordId: outcome.recordId };
  return { outcome: 'answered' };
}

/** How a step that oidc-provider no longer knows ended, for the page that says so. */
export type EndedStep =
  | { kind: 'finished'; outcome: TraceOutcome; clientName: string; personId: string | undefined; recordId: string | undefined }
  /** A later step of the same request (the consent after a sign-in): the browser goes there. */
  | { kind: 'moved'; uid: string; personId: string | undefined }
  /**
   * Unanswered and gone (expired, or its session ended). `back` is the app's error response, when the
   * redirect_uri is still one the client registered: a link, or for form_post a form to submit.
   */
  | { kind: 'dead'; clientName: string; personId: string | undefined; back: BackToApp | undefined };

/**
 * A step answered whose session ended before oidc-provider resumed the request (between Allow and
 * the redirect): what the person answered, and the way back to the app.
 */
export type LostAtResume = { clientName: string; outcome: TraceOutcome | undefined; back: BackToApp | undefined };

/** The app's error response as a link (`get`) or, for `form_post`, a form to submit. */
type BackToApp = { method: 'get' | 'post'; action: string; fields: Record<string, string> };

/** RFC 6749 §4.1.2.1: the error that fits a request that was never answered, by the step it stopped at. */
function errorFor(prompt: string): string {
  if (prompt === 'login') return 'login_required';
  if (prompt === 'consent') return 'interaction_required';
  return 'access_denied';
}

/** A registered URL to show a person: oidc-provider checked it is a web URI; only http(s) is linked. */
function webUri(value: unknown): string | undefined {
  if (typeof value !== 'string' || !URL.canParse(value)) return undefined;
  return ['https:', 'http:'].includes(new URL(value).protocol) ? value : undefined;
}

export function createInteractions(current: () => Provider, db: Database, traces: TraceStore) {
  /** The error response that sends the person back to the app, when its redirect_uri is still registered. */
  const backToApp = async (
    trace: TraceRow,
    error = errorFor(trace.prompt),
    description = 'The person did not finish in time, or their sign-in ended. Start again.',
  ): Promise<Extract<EndedStep, { kind: 'dead' }>> => {
    const client = await current().Client.find(trace.client_id);
    const clientName = nameOfApp(trace.client_id, client?.clientName);
    const mode = trace.response_mode ?? 'query';
    const personId = trace.person_id ?? undefined;
    const answerable = client && client.redirectUriAllowed(trace.redirect_uri) && ['query', 'fragment', 'form_post'].includes(mode);
    if (!answerable) return { kind: 'dead', clientName, personId, back: undefined };
    const fields: Record<string, string> = {
      error,
      error_description: description,
      ...(trace.state ? { state: trace.state } : {}),
      iss: current().issuer,
    };
    if (mode === 'form_post') return { kind: 'dead', clientName, personId, back: { method: 'post', action: trace.redirect_uri, fields } };
    const url = new URL(trace.redirect_uri);
    const params = new URLSearchParams(mode === 'fragment' ? '' : url.search);
    for (const [key, value] of Object.entries(fields)) params.set(key, value);
    if (mode === 'fragment') url.hash = params.toString();
    else url.search = params.toString();
    return { kind: 'dead', clientName, personId, back: { method: 'get', action: url.toString(), fields: {} } };
  };

  return {
    /**
     * A step whose answer oidc-provider could not resume because the sign-in session ended in
     * between: the answer, and the app's `login_required` error response (OpenID Connect Core
     * §3.1.2.6), so the app can start again and the person sign in anew.
     */
    async lostAtResume(uid: string): Promise<LostAtResume | undefined> {
      const trace = await traces.find(uid);
      if (!trace) return undefined;
      const { clientName, back } = await backToApp(trace, 'login_required', 'The sign-in ended before the answer reached the app. Start again.');
      return { clientName, outcome: trace.outcome ?? undefined, back };
    },

    /** What became of a step oidc-provider no longer knows; `undefined` when it was never traced or is long gone. */
    async ended(uid: string): Promise<EndedStep | undefined> {
      const trace = await traces.find(uid);
      if (!trace) return undefined;
      if (trace.outcome && trace.outcome !== 'signed_in') {
        const client = await current().Client.find(trace.client_id);
        return {
          kind: 'finished',
          outcome: trace.outcome,
          clientName: nameOfApp(trace.client_id, client?.clientName),
          personId: trace.person_id ?? undefined,
          recordId: trace.record_id ?? undefined,
        };
      }
      const later = await traces.later(trace);
      if (later) return { kind: 'moved', uid: later.uid, personId: later.person_id ?? trace.person_id ?? undefined };
      return backToApp(trace);
    },

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
      const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
      if (typeof interaction.params.redirect_uri === 'string') {
        const key = [clientId, text(interaction.params.code_challenge) ?? '', text(interaction.params.state) ?? '', text(interaction.params.nonce) ?? ''];
        await traces.seen({
          uid: interaction.uid,
          request_key: createHash('sha256').update(key.join('\n')).digest('base64url'),
          client_id: clientId,
          prompt: interaction.prompt.name,
          redirect_uri: interaction.params.redirect_uri,
          state: text(interaction.params.state) ?? null,
          response_mode: text(interaction.params.response_mode) ?? null,
          person_id: accountId ?? null,
        });
      }

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
        identity: identityScopes.filter((scope) => scope !== 'openid').map((scope) => describeScope(scope)),
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
            const returnTo = await orExpired(current().interactionResult(req, res, resultOf(outcome), { mergeWithLastSubmission: false }));
            const traced = traceOutcomeOf(outcome);
            const personId = 'login' in outcome ? outcome.login.accountId : accountId;
            await traces.answered(interaction.uid, traced.outcome, { personId, recordId: traced.recordId });
            return returnTo;
          });
        },
      };
    },
  };
}

export type Interactions = ReturnType<typeof createInteractions>;
