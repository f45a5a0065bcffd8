/**
 * The device authorization grant (RFC 8628) on oidc-provider, for the option that rides on it: the
 * hooks the option gives ({@link DeviceFlowHooks}), the extra parameters of a device authorization
 * request (checked there, refused at every other endpoint), a prompt of the option's own after login
 * (a step the flow cannot skip), and the token endpoint's polls answered as the option decides
 * (`slow_down`, `expired_token`, `access_denied`). The verification page and the middleware around
 * the flow are device-pages.ts. What the option does, counts and says lives in its own folder.
 * https://www.rfc-editor.org/rfc/rfc8628 · https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#featuresdeviceflow
 */
import Provider, { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { Conflict, DomainError, type TooManyAttempts } from '../errors';
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
export class RequestEnded extends errors.AccessDenied {}

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
