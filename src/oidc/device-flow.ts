/**
 * Patient Connect on oidc-provider's device flow (RFC 8628): the device authorization request
 * carries the connect request (`external_id`, `friendly_name`, `question`, `answer`), the
 * verification page at /connect takes the identity code, a prompt of its own (`connect`) asks the
 * secret question before consent so it cannot be skipped, the issuing app's polls are paced
 * (`slow_down`) and end with `expired_token` past the request's days or `access_denied` when it is
 * locked or withdrawn, and an approval is kept collectable for 90 days. The requests themselves live in connect/ (ConnectHooks).
 * https://www.rfc-editor.org/rfc/rfc8628 · https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#featuresdeviceflow
 */
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { Conflict, TooManyAttempts } from '../errors';
import { renderPage } from '../http/render';
import { loadOnce, requestEntry } from '../http/request-context';
import type { PollOutcome, PromptState } from '../connect/service';
import { MIN_ANSWER_LENGTH, hashAnswer, normalizeAnswer } from '../security/answers';
import type { Limit } from '../security/rate-limits';
import { isCleanText } from '../security/storable-text';
import { splitScopes } from '../rules/scopes';

/** The verification page (RFC 8628 `verification_uri`). */
export const CONNECT_PATH = '/connect';

/** The name of carevault's own prompt, and of the interaction page that asks the question. */
export const CONNECT_PROMPT = 'connect';

/** What the OpenID core needs from Patient Connect (connect/service.ts). */
export type ConnectHooks = {
  pendingFor(clientId: string, externalId: string): Promise<string | undefined>;
  requested(input: { deviceCode: string; clientId: string; externalId: string; friendlyName: string; question: string; answerHash: string }): Promise<string>;
  promptState(deviceCode: string, accountId: string | undefined): Promise<PromptState>;
  approved(deviceCode: string, grantId: string, accountId: string): Promise<{ recordName: string } | undefined>;
  declined(deviceCode: string): Promise<void>;
  /** A poll by `clientId`: counted only when the request is that app's. */
  poll(deviceCode: string, clientId: string): Promise<PollOutcome>;
  /** Seconds an app waits between polls (RFC 8628 §3.2 `interval`). */
  pollInterval: number;
  /** Wrong identity codes per client address. */
  codeGuesses: Limit;
};

/** A second pending request for the same person at the same app (409, RFC 8628 leaves the status to us). */
class RequestExists extends errors.CustomOIDCProviderError {
  constructor(description: string) {
    super('invalid_request', description);
    Object.assign(this, { status: 409, statusCode: 409 });
  }
}

const TEXT_LIMITS = { external_id: 200, friendly_name: 200, question: 300 } as const;

/**
 * `extraParams` validators: the connect request's fields, at the device authorization endpoint
 * only. The answer is replaced by its argon2id hash before oidc-provider stores the parameters.
 */
export function connectParams(hooks: ConnectHooks): Record<string, (ctx: KoaContextWithOIDC, value: string | undefined) => Promise<void>> {
  const isDeviceAuthorization = (ctx: KoaContextWithOIDC) => ctx.oidc.route === 'device_authorization';
  const text = (name: keyof typeof TEXT_LIMITS) => async (ctx: KoaContextWithOIDC, value: string | undefined) => {
    if (!isDeviceAuthorization(ctx)) {
      if (value !== undefined) throw new errors.InvalidRequest(`${name} belongs only to a device authorization request (Patient Connect)`);
      return;
    }
    if (value === undefined || value.trim() === '') throw new errors.InvalidRequest(`${name} is required for a connect request`);
    if (value.length > TEXT_LIMITS[name] || !isCleanText(value)) throw new errors.InvalidRequest(`${name} must be plain text of at most ${TEXT_LIMITS[name]} characters`);
    if (name === 'external_id') {
      const scopes = splitScopes(ctx.oidc.params?.scope as string | undefined);
      if (!scopes.includes('offline_access')) throw new errors.InvalidScope('a connect request must ask for offline_access', 'offline_access');
      const existing = await hooks.pendingFor(ctx.oidc.client?.clientId ?? '', value);
      if (existing) throw new RequestExists(`a pending connect request for external_id ${value} exists already: ${existing}`);
    }
  };
  return {
    external_id: text('external_id'),
    friendly_name: text('friendly_name'),
    question: text('question'),
    async answer(ctx, value) {
      if (!isDeviceAuthorization(ctx)) {
        if (value !== undefined) throw new errors.InvalidRequest('answer belongs only to a device authorization request (Patient Connect)');
        return;
      }
      if (value === undefined || normalizeAnswer(value).length < MIN_ANSWER_LENGTH) {
        throw new errors.InvalidRequest(`answer is required and must be at least ${MIN_ANSWER_LENGTH} characters`);
      }
      if (value.length > 200 || !isCleanText(value)) throw new errors.InvalidRequest('answer must be plain text of at most 200 characters');
      (ctx.oidc.params as Record<string, unknown>).answer = await hashAnswer(value);
    },
  };
}

/** Where the signed-in person stands on the secret question of a device code, looked up once per request. */
const PROMPT_STATES = requestEntry('connect prompt states', () => new Map<string, Promise<PromptState>>());

function stateOf(hooks: ConnectHooks, ctx: KoaContextWithOIDC): Promise<PromptState> | undefined {
  const code = ctx.oidc.deviceCode ?? (ctx.oidc.entities.DeviceCode as { jti?: string } | undefined);
  if (!code?.jti) return undefined;
  const deviceCode = code.jti;
  return loadOnce(ctx.req, PROMPT_STATES, deviceCode, () => hooks.promptState(deviceCode, ctx.oidc.session?.accountId));
}

/** The request behind the code ended (expired, locked, declined, withdrawn): `why` says which, in words. */
class RequestEnded extends errors.AccessDenied {}

/** The interaction policy: login, then the secret question of a connect request, then consent. */
export function interactionsPolicy(hooks: ConnectHooks) {
  const { Prompt, Check, base } = interactionPolicy;
  const policy = base();
  const question = new Prompt(
    { name: CONNECT_PROMPT, requestable: false },
    new Check(
      'secret_question',
      'the answer to the clinic’s secret question is needed',
      async (ctx) => {
        const state = await stateOf(hooks, ctx);
        if (!state || state.kind === 'not_connect' || state.kind === 'answered') return Check.NO_NEED_TO_PROMPT;
        if (state.kind === 'ended') throw new RequestEnded(state.why);
        return Check.REQUEST_PROMPT;
      },
      async (ctx) => {
        const state = await stateOf(hooks, ctx);
        return state?.kind === 'ask' ? { connect_request: state.request.id } : {};
      },
    ),
  );
  const consentIndex = policy.findIndex((prompt) => prompt.name === 'consent');
  policy.add(question, consentIndex);
  return policy;
}

function wordsFor(error: (Error & { name: string }) | undefined, out: { error_description?: string } | undefined): string | undefined {
  switch (error?.name) {
    case undefined:
      return undefined;
    case 'NoCodeError':
      return 'Enter the identity code the clinic gave you.';
    case 'NotFoundError':
      return 'That identity code is not right. Check it and try again.';
    case 'ExpiredError':
      return 'This identity code has expired. Ask the clinic for a new one.';
    case 'AlreadyUsedError':
      return 'This identity code was already used.';
    case 'AbortedError':
      if (error.cause instanceof RequestEnded && error.cause.error_description) return error.cause.error_description;
      return 'The connection was not made: it was declined, or the request is locked or was withdrawn.';
    default:
      return out?.error_description ?? 'carevault could not continue with this identity code.';
  }
}

async function renderCodePage(ctx: KoaContextWithOIDC, code: string, error: string | undefined): Promise<void> {
  ctx.type = 'html';
  ctx.body = await renderPage('connect/code', {
    title: 'Connect a clinic',
    action: ctx.oidc.urlFor('code_verification'),
    xsrf: (ctx.oidc.session?.state as { secret?: string } | undefined)?.secret ?? '',
    code,
    error,
  });
}

/** oidc-provider's `features.deviceFlow`: the pages of /connect, in carevault's layout. */
export function deviceFlowFeature(hooks: ConnectHooks): NonNullable<Configuration['features']>['deviceFlow'] {
  return {
    enabled: true,
    // HealthVault's codes: 20 letters without vowels or look-alikes, in 5 groups of 4.
    charset: 'base-20',
    mask: '****-****-****-****-****',
    async userCodeInputSource(ctx, _form, out, err) {
      const error = err as (Error & { name: string; userCode?: string }) | undefined;
      let message = wordsFor(error, out);
      if (error?.name === 'NotFoundError') {
        try {
          await hooks.codeGuesses.recordFailure(ctx.ip);
        } catch (locked) {
          if (!(locked instanceof TooManyAttempts)) throw locked;
          message = locked.message;
        }
      }
      if (error?.name === 'AbortedError' && ctx.oidc.deviceCode?.jti) await hooks.declined(ctx.oidc.deviceCode.jti);
      const prefill = (ctx.state as { prefill?: string }).prefill ?? error?.userCode ?? '';
      await renderCodePage(ctx, prefill, message);
    },
    // The code page already confirms (it submits `confirm`); a form without it comes back here.
    async userCodeConfirmSource(ctx, _form, _client, _deviceInfo, userCode) {
      await renderCodePage(ctx, userCode, 'Check the identity code and continue.');
    },
    async successSource(ctx) {
      const code = ctx.oidc.deviceCode;
      const accountId = ctx.oidc.session?.accountId;
      const approved = code?.jti && code.grantId && accountId ? await hooks.approved(code.jti, code.grantId, accountId) : undefined;
      if (code && approved) {
        // Validated: the app may collect its tokens for 90 days.
        (code as unknown as { exp: number }).exp = Math.floor(Date.now() / 1000) + 90 * 24 * 3600;
        await code.save();
      }
      ctx.type = 'html';
      ctx.body = await renderPage('connect/done', {
        title: 'Connected',
        appName: ctx.oidc.client?.clientName ?? 'The app',
        recordName: approved?.recordName ?? 'the chosen',
      });
    },
  };
}

/**
 * Middleware around oidc-provider for Patient Connect:
 * - `GET /connect?user_code=…` shows the code prefilled (oidc-provider would post it with a script,
 *   which the content security policy refuses);
 * - identity codes are guessable: posts to /connect are refused while the address is locked;
 * - a device authorization response becomes a connect request (and says the `interval`).
 */
export function connectMiddleware(hooks: ConnectHooks) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    if (ctx.path === CONNECT_PATH && ctx.method === 'GET' && typeof ctx.query.user_code === 'string') {
      (ctx.state as { prefill?: string }).prefill = ctx.query.user_code.slice(0, 60);
      ctx.querystring = '';
    }
    if (ctx.path === CONNECT_PATH && ctx.method === 'POST') {
      try {
        await hooks.codeGuesses.assertOpen(ctx.ip);
      } catch (locked) {
        if (!(locked instanceof TooManyAttempts)) throw locked;
        ctx.status = 429;
        ctx.set('Retry-After', String(locked.retryAfterSeconds));
        ctx.type = 'html';
        ctx.body = await renderPage('pages/message', {
          title: 'Too many wrong codes',
          message: `${locked.message} Wait ${Math.ceil(locked.retryAfterSeconds / 60)} minutes, then enter the code again.`,
          link: { href: '/', text: 'Go to the carevault home page' },
        });
        return;
      }
    }
    try {
      await next();
    } catch (error) {
      // oidc-provider's own error page for /connect fails on a post with no sign-in session behind
      // it (a stale or forged form): send the person back to the code form instead.
      if (ctx.path !== CONNECT_PATH || !(error instanceof Error) || /^Internal/.test(error.message)) throw error;
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = await renderPage('pages/message', {
        title: 'Please start again',
        message: 'This form has expired or did not come from carevault.',
        link: { href: CONNECT_PATH, text: 'Enter the identity code again' },
      });
      return;
    }
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.oidc?.route !== 'device_authorization') return;
    if (ctx.status !== 200 || typeof body?.device_code !== 'string') return;
    const code = ctx.oidc.entities.DeviceCode as { params?: Record<string, string>; destroy(): Promise<void> } | undefined;
    const params = code?.params ?? {};
    try {
      await hooks.requested({
        deviceCode: body.device_code,
        clientId: ctx.oidc.client?.clientId ?? '',
        externalId: params.external_id ?? '',
        friendlyName: params.friendly_name ?? '',
        question: params.question ?? '',
        answerHash: params.answer ?? '',
      });
      body.interval = hooks.pollInterval;
    } catch (error) {
      if (!(error instanceof Conflict)) throw error;
      // A request with the same external id won the race: this device code goes.
      await code?.destroy();
      ctx.status = 409;
      ctx.body = { error: 'invalid_request', error_description: error.message };
    }
  };
}

/**
 * The token endpoint looks the device code up through the adapter when an app polls, after the app
 * authenticated: the moment to count the poll — for the app the request belongs to only, so another
 * app holding the code changes nothing (and gets invalid_grant from oidc-provider, RFC 6749 §5.2).
 * The request's own app hears `slow_down` when too fast (RFC 8628 §3.5), `expired_token` once its
 * days are over, `access_denied` once it is locked, declined or withdrawn.
 */
export function pollPolicy(hooks: ConnectHooks) {
  return async (deviceCode: string): Promise<void> => {
    const outcome = await hooks.poll(deviceCode, Provider.ctx?.oidc.client?.clientId ?? '');
    if (outcome === 'slow_down') throw new errors.SlowDown();
    if (outcome === 'expired') throw new errors.ExpiredToken('the connect request has expired');
    if (outcome === 'ended') throw new errors.AccessDenied('the connect request was locked, declined or withdrawn');
  };
}
