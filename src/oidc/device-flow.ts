/**
 * The device authorization grant (RFC 8628) on oidc-provider, for the option that rides on it: its
 * user codes and pages in `features.deviceFlow`, the extra parameters of a device authorization
 * request (checked there, refused at every other endpoint), a prompt of the option's own after login
 * (a step the flow cannot skip), the verification page's guards (guessed codes counted per address,
 * a stale form sent back to the start), the device authorization response turned into the option's
 * request, a validated code kept collectable as long as the option says, and the token endpoint's
 * polls answered as the option decides (`slow_down`, `expired_token`, `access_denied`). A user code
 * entered again carries on with its request (a new run of the flow on the same device code; the
 * adapter never reports it in flight) until the person approves or the request ends; a POST of the verification page answers 303 to a page
 * describing the code as it is (refusals of a guessing address aside), and the end of the flow
 * sends the browser to the option's page. What the
 * option does, counts and says lives in its own folder, behind {@link DeviceFlowHooks}.
 * https://www.rfc-editor.org/rfc/rfc8628 · https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#featuresdeviceflow
 */
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { nameOfApp } from '../apps/names';
import { Conflict, DomainError, TooManyAttempts } from '../errors';
import { loadOnce, requestEntry } from '../http/request-context';
import { splitScopes } from '../rules/scopes';
import type { Limit } from '../security/limiters';

/** The verification page (RFC 8628 `verification_uri`), where people type the user code. */
export const VERIFICATION_PATH = '/connect';

/** Where the signed-in person stands on the option's own prompt for a device code. */
type DevicePromptState = { kind: 'skip' } | { kind: 'ask'; details: Record<string, unknown> } | { kind: 'ended'; why: string };

/** What an app's poll of the token endpoint hears: go on, wait longer, too late, or never. */
export type PollOutcome = 'ok' | 'slow_down' | 'expired' | 'ended' | 'unknown';

/** The person approved: the record the grant reaches, and until when the app may collect its tokens. */
type DeviceApproval = { recordName: string; collectUntil: Date };

/** What went wrong with a typed user code, for the verification page's words. */
export type UserCodeProblem =
  | { kind: 'no_code' | 'not_found' | 'expired' | 'already_used' | 'confirm' }
  /** The option's request behind the code ended (`why`, in words, when the option said). */
  | { kind: 'ended'; why: string | undefined }
  /** Refused for another reason, said in `message` (a lock on guessing, oidc-provider's description). */
  | { kind: 'refused'; message: string | undefined };

/**
 * One extra parameter of a device authorization request (`undefined` when absent): checks it
 * (throwing {@link DomainError}s: `Invalid` → invalid_request, `Invalid` with code `invalid_scope`
 * → invalid_scope, `Conflict` → 409) and returns the value oidc-provider keeps (an answer can be
 * kept as its hash).
 */
export type DeviceParam = (value: string | undefined, request: { clientId: string; scopes: readonly string[] }) => Promise<string | undefined>;

/** What the option riding on the device flow gives the OpenID core. */
export type DeviceFlowHooks = {
  /** oidc-provider's user code alphabet and the mask codes are shown in. */
  userCode: { charset: 'base-20' | 'digits'; mask: string };
  /** Seconds a device code lives until the person validates it. */
  lifetime: number;
  /** Seconds an app waits between polls (RFC 8628 §3.2 `interval`). */
  pollInterval: number;
  /** The extra parameters of a device authorization request, by name; refused at every other endpoint. */
  params: Readonly<Record<string, DeviceParam>>;
  /** A device authorization was issued: the option keeps its request. @throws Conflict when a racing one won. */
  requested(input: { deviceCode: string; clientId: string; params: Readonly<Record<string, string>> }): Promise<void>;
  /** The option's own prompt, after login and before consent. */
  prompt: { name: string; state(deviceCode: string, accountId: string | undefined): Promise<DevicePromptState> };
  approved(deviceCode: string, grantId: string, accountId: string): Promise<DeviceApproval | undefined>;
  /** A step of the authorization flow (interaction `uid`) began for a device code: the person has it in hand. */
  stepStarted(uid: string, deviceCode: string): Promise<void>;
  /** Why a device code can no longer be used, in words (naming who to ask for a new one); `undefined` while it can. */
  usedCode(deviceCode: string): Promise<string | undefined>;
  /** The option's page that says where the request behind a device code stands, where the flow ends. */
  pageOf(deviceCode: string): Promise<string | undefined>;
  /** The person declined, or the flow ended with an error. */
  declined(deviceCode: string): Promise<void>;
  /** A poll by `clientId`: counted only when the request is that app's. */
  poll(deviceCode: string, clientId: string): Promise<PollOutcome>;
  /** What a poll of an `expired` or `ended` request is told (`error_description`). */
  pollWords: Readonly<Record<'expired' | 'ended', string>>;
  /** Wrong user codes per client address. */
  codeGuesses: Limit;
  /** The pages of the verification page, rendered by the option (HTML). */
  pages: {
    userCode(form: { action: string; xsrf: string; code: string }, problem: UserCodeProblem | undefined): Promise<string>;
    success(view: { appName: string; approval: DeviceApproval | undefined }): Promise<string>;
    tooManyGuesses(refusal: TooManyAttempts): Promise<string>;
    /** A post oidc-provider could not take (a stale or forged form, no sign-in session behind it). */
    startAgain(): Promise<string>;
  };
};

/** A refusal of a device authorization parameter, as the endpoint answers it. */
function refusalOf(error: DomainError) {
  if (error instanceof Conflict) {
    const refusal = new errors.InvalidRequest(error.message);
    return Object.assign(refusal, { status: 409, statusCode: 409 });
  }
  if (error.code === 'invalid_scope') return new errors.InvalidScope(error.message, '');
  return new errors.InvalidRequest(error.message);
}

/**
 * `extraParams` validators: the option's parameters, required at the device authorization endpoint
 * and refused everywhere else; the value each check returns is the one oidc-provider stores.
 */
export function deviceParams(hooks: DeviceFlowHooks): Record<string, (ctx: KoaContextWithOIDC, value: string | undefined) => Promise<void>> {
  const validator = (name: string, check: DeviceParam) => async (ctx: KoaContextWithOIDC, value: string | undefined) => {
    if (ctx.oidc.route !== 'device_authorization') {
      if (value !== undefined) throw new errors.InvalidRequest(`${name} belongs only to a device authorization request`);
      return;
    }
    try {
      const kept = await check(value, { clientId: ctx.oidc.client?.clientId ?? '', scopes: splitScopes(ctx.oidc.params?.scope as string | undefined) });
      if (kept !== value) (ctx.oidc.params as Record<string, unknown>)[name] = kept;
    } catch (error) {
      throw error instanceof DomainError ? refusalOf(error) : error;
    }
  };
  return Object.fromEntries(Object.entries(hooks.params).map(([name, check]) => [name, validator(name, check)]));
}

/** Where the signed-in person stands on the prompt of a device code, looked up once per request. */
const PROMPT_STATES = requestEntry('device prompt states', () => new Map<string, Promise<DevicePromptState>>());

function stateOf(hooks: DeviceFlowHooks, ctx: KoaContextWithOIDC): Promise<DevicePromptState> | undefined {
  const code = ctx.oidc.deviceCode ?? (ctx.oidc.entities.DeviceCode as { jti?: string } | undefined);
  if (!code?.jti) return undefined;
  const deviceCode = code.jti;
  return loadOnce(ctx.req, PROMPT_STATES, deviceCode, () => hooks.prompt.state(deviceCode, ctx.oidc.session?.accountId));
}

/** The request behind the code ended: `error_description` says how, in words. */
class RequestEnded extends errors.AccessDenied {}

/** The interaction policy: login, then the option's prompt (when a device code asks for it), then consent. */
export function interactionsPolicy(hooks: DeviceFlowHooks | undefined) {
  const { Prompt, Check, base } = interactionPolicy;
  const policy = base();
  if (!hooks) return policy;
  const prompt = new Prompt(
    { name: hooks.prompt.name, requestable: false },
    new Check(
      `${hooks.prompt.name}_prompt`,
      'a step of the device flow is needed',
      async (ctx) => {
        const state = await stateOf(hooks, ctx);
        if (!state || state.kind === 'skip') return Check.NO_NEED_TO_PROMPT;
        if (state.kind === 'ended') throw new RequestEnded(state.why);
        return Check.REQUEST_PROMPT;
      },
      async (ctx) => {
        const state = await stateOf(hooks, ctx);
        return state?.kind === 'ask' ? state.details : {};
      },
    ),
  );
  const consent = policy.findIndex((existing) => existing.name === 'consent');
  policy.add(prompt, consent);
  return policy;
}

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
          await hooks.codeGuesses.recordFailure(ctx.ip);
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
 * - user codes are guessable: posts to the verification page are refused while the address is locked;
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
    if (ctx.path === VERIFICATION_PATH && ctx.method === 'POST') {
      try {
        await hooks.codeGuesses.assertOpen(ctx.ip);
      } catch (locked) {
        if (!(locked instanceof TooManyAttempts)) throw locked;
        ctx.set('Retry-After', String(locked.retryAfterSeconds));
        sendHtml(ctx, await hooks.pages.tooManyGuesses(locked), 429);
        return;
      }
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

/**
 * The token endpoint looks the device code up through the adapter when an app polls, after the app
 * authenticated: the moment to count the poll — for the app the request belongs to only, so another
 * app holding the code changes nothing (and gets invalid_grant from oidc-provider, RFC 6749 §5.2).
 * The request's own app hears `slow_down` when too fast (RFC 8628 §3.5), `expired_token` once its
 * days are over, `access_denied` once it is locked, declined or withdrawn.
 */
export function pollPolicy(hooks: DeviceFlowHooks) {
  return async (deviceCode: string): Promise<void> => {
    const outcome = await hooks.poll(deviceCode, Provider.ctx?.oidc.client?.clientId ?? '');
    if (outcome === 'slow_down') throw new errors.SlowDown();
    if (outcome === 'expired') throw new errors.ExpiredToken(hooks.pollWords.expired);
    if (outcome === 'ended') throw new errors.AccessDenied(hooks.pollWords.ended);
  };
}
