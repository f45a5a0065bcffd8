/**
 * The verification page of the device authorization grant (RFC 8628 §3.3) on oidc-provider: the
 * user code form and its answers in `features.deviceFlow` (a POST answers 303 to a page describing
 * the code as it is; the end of the flow sends the browser to the option's page), and the
 * middleware around oidc-provider for the flow: a prefilled code without a script, guessed codes
 * counted per address, a stale form or a resume address with no sign-in behind it sent back to the
 * start, the steps of the flow remembered, and the device authorization response turned into the
 * option's request. The protocol adaptation it relies on (hooks, parameters, prompt, polls) is device-flow.ts.
 * https://www.rfc-editor.org/rfc/rfc8628#section-3.3 · https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#featuresdeviceflow
 */
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { nameOfApp } from '../apps/names';
import { Conflict, TooManyAttempts } from '../errors';
import type { Attempt } from '../security/limiters';
import { RequestEnded, VERIFICATION_PATH, type DeviceFlowHooks, type UserCodeProblem } from './device-flow';

function problemOf(error: (Error & { name: string }) | undefined, out: { error_description?: string } | undefined): UserCodeProblem | undefined {
  switch (error?.name) {
    case undefined:
      return undefined;
    case 'NoCodeError':
      return { kind: 'no_code' };
    case 'NotFoundError':
      return { kind: 'not_found' };
    case 'ExpiredError':
      return { kind: 'expired' };
    case 'AlreadyUsedError':
      return { kind: 'already_used' };
    case 'AbortedError':
      return { kind: 'ended', why: error.cause instanceof RequestEnded ? error.cause.error_description : undefined };
    default:
      return { kind: 'refused', message: out?.error_description };
  }
}

/** What the verification page is told through its address after a post (Post/Redirect/Get). */
const SHOWN_PROBLEMS = ['no_code', 'not_found', 'expired', 'already_used', 'ended', 'confirm'] as const;
type ShownProblem = (typeof SHOWN_PROBLEMS)[number];

/** The attempt a post to the verification page took, until oidc-provider has judged its code. */
type CodeGuessState = { codeGuess?: Attempt };

function isShownProblem(value: unknown): value is ShownProblem {
  return typeof value === 'string' && (SHOWN_PROBLEMS as readonly string[]).includes(value);
}

/** The verification page's address showing `code` (prefilled) and what went wrong with it. */
function codePage(code: string, problem: ShownProblem | undefined): string {
  const query = new URLSearchParams();
  if (code) query.set('user_code', code.slice(0, 60));
  if (problem) query.set('problem', problem);
  const search = query.toString();
  return search ? `${VERIFICATION_PATH}?${search}` : VERIFICATION_PATH;
}

function seeOther(ctx: KoaContextWithOIDC, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

/** oidc-provider's normalization of a typed user code (capitals, no dashes or spaces). */
function normalizeUserCode(input: string): string {
  return input.toUpperCase().replace(/\W/g, '');
}

/** A normalized user code shown in its mask again (`JKWZ-QNMN-…`). */
function masked(normalized: string, mask: string): string {
  const letters = [...normalized];
  return [...mask].map((place) => (place === '*' ? (letters.shift() ?? '') : place)).join('');
}

/** The device code a request of the flow is about: the one it loaded, or the one its interaction rides on. */
function deviceCodeOf(ctx: KoaContextWithOIDC): string | undefined {
  return ctx.oidc.deviceCode?.jti ?? (ctx.oidc.entities.Interaction as { deviceCode?: string } | undefined)?.deviceCode;
}

/**
 * What the verification page says about a code given in its address (`?user_code=`): why it can no
 * longer be used, or nothing. Only looked up while the address may still guess codes; it tells
 * nothing of a code that can still be used.
 */
async function wordsForCode(hooks: DeviceFlowHooks, ctx: KoaContextWithOIDC, typed: string): Promise<{ words: string | undefined; expired: boolean }> {
  const none = { words: undefined, expired: false };
  const normalized = normalizeUserCode(typed);
  if (!normalized) return none;
  try {
    await hooks.codeGuesses.assertOpen(ctx.ip);
  } catch (locked) {
    if (locked instanceof TooManyAttempts) return none;
    throw locked;
  }
  const provider = ctx.app as unknown as Provider;
  const code = await provider.DeviceCode.findByUserCode(normalized, { ignoreExpiration: true });
  if (!code?.jti) return none;
  return { words: await hooks.usedCode(code.jti), expired: code.isExpired };
}

function sendHtml(ctx: KoaContextWithOIDC, html: string, status?: number): void {
  if (status) ctx.status = status;
  ctx.type = 'html';
  ctx.body = html;
}

/** oidc-provider's `features.deviceFlow`: the option's code shape and the pages of the verification page. */
export function deviceFlowFeature(hooks: DeviceFlowHooks): NonNullable<Configuration['features']>['deviceFlow'] {
  const form = (ctx: KoaContextWithOIDC, code: string) => ({
    action: ctx.oidc.urlFor('code_verification'),
    xsrf: (ctx.oidc.session?.state as { secret?: string } | undefined)?.secret ?? '',
    code,
  });
  return {
    enabled: true,
    charset: hooks.userCode.charset,
    mask: hooks.userCode.mask,
    async userCodeInputSource(ctx, _form, out, err) {
      const error = err as (Error & { name: string; userCode?: string }) | undefined;
      let problem = problemOf(error, out);
      if (problem?.kind === 'not_found') {
        try {
          // The attempt the post took before oidc-provider judged the code (deviceFlowMiddleware).
          const attempt = (ctx.state as CodeGuessState).codeGuess ?? (await hooks.codeGuesses.take(ctx.ip));
          await attempt.failed();
        } catch (locked) {
          if (!(locked instanceof TooManyAttempts)) throw locked;
          problem = { kind: 'refused', message: locked.message };
        }
      }
      const deviceCode = deviceCodeOf(ctx);
      // On a resume the code is known only through the interaction it rode on.
      if (problem?.kind === 'ended' && deviceCode) await hooks.declined(deviceCode);
      // A run of the flow that failed for another reason (a session changed under it) ends that run, not the code.
      if (problem?.kind === 'refused' && ctx.oidc.route === 'device_resume' && deviceCode) await reopen(hooks, ctx, deviceCode);
      // The flow ended on a later step (declined, locked, or approved elsewhere first): the option's page says how.
      const page = ctx.oidc.route === 'device_resume' && deviceCode ? await hooks.pageOf(deviceCode) : undefined;
      if (page) return seeOther(ctx, page);
      if (ctx.method === 'POST' && problem && problem.kind !== 'refused') {
        // Once the flow ran, the parameters are the authorization request's: the code is the loaded device code's.
        const loaded = ctx.oidc.deviceCode?.userCode;
        const posted = ctx.oidc.params?.user_code;
        const typed = typeof posted === 'string' ? posted : loaded ? masked(loaded, hooks.userCode.mask) : (error?.userCode ?? '');
        return seeOther(ctx, codePage(typed, problem.kind));
      }
      const state = ctx.state as { prefill?: string; problem?: ShownProblem };
      const prefill = state.prefill ?? error?.userCode ?? '';
      let shown: UserCodeProblem | undefined = problem ?? (state.problem ? { kind: state.problem, why: undefined } : undefined);
      // A code in the address that can no longer be used: say why, whoever asks, before anyone posts it.
      if (ctx.method === 'GET' && prefill && state.problem !== 'not_found' && state.problem !== 'no_code') {
        const known = await wordsForCode(hooks, ctx, prefill);
        if (known.words) shown = { kind: 'ended', why: known.words };
        else if (known.expired) shown = { kind: 'expired' };
      }
      sendHtml(ctx, await hooks.pages.userCode(form(ctx, prefill), shown));
    },
    // The code page already confirms (it submits `confirm`); a form without it comes back here.
    async userCodeConfirmSource(ctx, _form, _client, _deviceInfo, userCode) {
      seeOther(ctx, codePage(userCode, 'confirm'));
    },
    async successSource(ctx) {
      const code = ctx.oidc.deviceCode;
      const accountId = ctx.oidc.session?.accountId;
      const approval = code?.jti && code.grantId && accountId ? await hooks.approved(code.jti, code.grantId, accountId) : undefined;
      if (code && approval) {
        // Validated: the app may collect its tokens until the option's deadline.
        (code as unknown as { exp: number }).exp = Math.floor(approval.collectUntil.getTime() / 1000);
        await code.save();
      }
      // Post/Redirect/Get: the option's page says it is done, also on reload and Back.
      const page = code?.jti ? await hooks.pageOf(code.jti) : undefined;
      if (page) return seeOther(ctx, page);
      const client = ctx.oidc.client;
      sendHtml(ctx, await hooks.pages.success({ appName: client ? nameOfApp(client.clientId, client.clientName) : 'The app', approval }));
    },
  };
}

/**
 * Middleware around oidc-provider for the device flow:
 * - `GET <verification page>?user_code=…` shows the code prefilled (oidc-provider would post it with
 *   a script, which the content security policy refuses);
 * - user codes are guessable: each post to the verification page takes an attempt before oidc-provider
 *   judges its code (refused while the address is locked), kept when the code is unknown and given
 *   back otherwise, so a burst of posts cannot have more codes judged than the limit;
 * - a device authorization response becomes the option's request (and says the `interval`).
 */
export function deviceFlowMiddleware(hooks: DeviceFlowHooks) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    if (ctx.path === VERIFICATION_PATH && ctx.method === 'GET' && (typeof ctx.query.user_code === 'string' || typeof ctx.query.problem === 'string')) {
      const state = ctx.state as { prefill?: string; problem?: ShownProblem };
      if (typeof ctx.query.user_code === 'string') state.prefill = ctx.query.user_code.slice(0, 60);
      if (isShownProblem(ctx.query.problem)) state.problem = ctx.query.problem;
      ctx.querystring = '';
    }
    let guess: Attempt | undefined;
    if (ctx.path === VERIFICATION_PATH && ctx.method === 'POST') {
      try {
        guess = await hooks.codeGuesses.take(ctx.ip);
      } catch (locked) {
        if (!(locked instanceof TooManyAttempts)) throw locked;
        ctx.set('Retry-After', String(locked.retryAfterSeconds));
        sendHtml(ctx, await hooks.pages.tooManyGuesses(locked), 429);
        return;
      }
      (ctx.state as CodeGuessState).codeGuess = guess;
    }
    try {
      await next();
    } catch (error) {
      // oidc-provider's error page for the verification page or a resume address (`/connect/<uid>`)
      // touches the session, and saving a session that was never stored throws: no sign-in is behind
      // the request (a stale or forged form, a typed or guessed address), so the person starts again
      // at the code form. Every other failure is answered as failures are (500, or 503 for a lost database).
      if (!withoutStoredSession(ctx)) throw error;
      sendHtml(ctx, await hooks.pages.startAgain(), 400);
      return;
    } finally {
      // A code that was found (or never judged) costs nothing; an unknown one kept its point.
      await guess?.giveBack();
    }
    await followSteps(hooks, ctx);
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.oidc?.route !== 'device_authorization') return;
    if (ctx.status !== 200 || typeof body?.device_code !== 'string') return;
    const code = ctx.oidc.entities.DeviceCode as { params?: Record<string, string>; destroy(): Promise<void> } | undefined;
    const stored = code?.params ?? {};
    try {
      await hooks.requested({
        deviceCode: body.device_code,
        clientId: ctx.oidc.client?.clientId ?? '',
        params: Object.fromEntries(Object.keys(hooks.params).map((name) => [name, stored[name] ?? ''])),
      });
      body.interval = hooks.pollInterval;
    } catch (error) {
      if (!(error instanceof Conflict)) throw error;
      // A request with the same parameters won the race: this device code goes.
      await code?.destroy();
      ctx.status = 409;
      ctx.body = { error: 'invalid_request', error_description: error.message };
    }
  };
}

/** A request of the verification page or a resume address whose session was never stored (it has no expiry yet). */
function withoutStoredSession(ctx: KoaContextWithOIDC): boolean {
  const route = ctx.oidc?.route;
  const session = ctx.oidc?.session as { exp?: unknown } | undefined;
  return (route === 'code_verification' || route === 'device_resume') && session !== undefined && typeof session.exp !== 'number';
}

/**
 * oidc-provider marks a device code with the error of any run of the flow that failed; while the
 * option's request is still open, the code stays enterable (only a decline or the request's end
 * closes it).
 */
async function reopen(hooks: DeviceFlowHooks, ctx: KoaContextWithOIDC, deviceCode: string): Promise<void> {
  const provider = ctx.app as unknown as Provider;
  const code = await provider.DeviceCode.find(deviceCode, { ignoreExpiration: true });
  if (!code?.error || code.accountId || code.isExpired || (await hooks.usedCode(deviceCode)) !== undefined) return;
  delete code.error;
  delete code.errorDescription;
  await code.save();
}

/**
 * After a request of the device flow: a step that began (the browser sent to an interaction of a
 * device code) is the option's to remember. (A code that started a run of the flow stays enterable:
 * the adapter never reports a code found by its user code in flight, so the person — in this
 * browser or another — carries on where the request stands; what ends a code is oidc-provider's
 * own: an approval, `accountId`, or an error, declined or locked, on it.)
 */
async function followSteps(hooks: DeviceFlowHooks, ctx: KoaContextWithOIDC): Promise<void> {
  if (ctx.status !== 302 && ctx.status !== 303) return;
  const route = ctx.oidc?.route;
  if (route !== 'code_verification' && route !== 'device_resume') return;
  // Every post of the verification page answers 303 (RFC 9110 §15.4.4): reload never posts it again.
  if (ctx.method === 'POST') ctx.status = 303;
  const interaction = ctx.oidc.entities.Interaction as { uid?: string; deviceCode?: string } | undefined;
  const location = String(ctx.response.get('location') ?? '');
  if (!interaction?.uid || !interaction.deviceCode || !location.endsWith(`/interaction/${interaction.uid}`)) return;
  await hooks.stepStarted(interaction.uid, interaction.deviceCode);
}
