/**
 * Patient Connect on the device authorization grant (RFC 8628), as the OpenID core calls it
 * (oidc/device-flow.ts, DeviceFlowHooks): a device authorization request carries the connect
 * request (`external_id`, `friendly_name`, `question`, `answer` — the answer kept only as its
 * argon2id hash), the person types the identity code at /connect and answers the secret question
 * in a prompt of its own (`connect`) before consent, wrong identity codes count against the
 * address, and an approval stays collectable for HealthVault's 90 days. Every word of these pages
 * and every number is Patient Connect's own.
 */
import { Conflict, Invalid } from '../errors';
import { renderPage } from '../http/render';
import { VERIFICATION_PATH, type DeviceFlowHooks, type DeviceParam, type UserCodeProblem } from '../oidc/device-flow';
import { CODE_MASK, MIN_ANSWER_LENGTH, UNUSED_DAYS, daysInSeconds } from '../rules/healthvault';
import { hashAnswer, normalizeAnswer } from '../security/answers';
import type { Limit } from '../security/limiters';
import { isCleanText } from '../security/storable-text';
import type { ConnectService } from './service';
import { codeWords } from './standing-words';

/** The name of Patient Connect's prompt, and of the interaction page that asks the secret question. */
export const CONNECT_PROMPT = 'connect';

const TEXT_LIMITS = { external_id: 200, friendly_name: 200, question: 300 } as const;
const MAX_ANSWER_CHARS = 200;

/** What the code page says about a typed identity code. */
function wordsFor(problem: UserCodeProblem | undefined): string | undefined {
  switch (problem?.kind) {
    case undefined:
      return undefined;
    case 'no_code':
      return 'Enter the identity code the clinic gave you.';
    case 'not_found':
      return 'That identity code is not right. Check it and try again.';
    case 'expired':
      return 'This identity code has expired. Ask the clinic that gave it to you for a new one.';
    case 'already_used':
      return 'This identity code can no longer be used. Ask the clinic that gave it to you for a new one.';
    case 'confirm':
      return 'Check the identity code and continue.';
    case 'ended':
      return problem.why ?? 'The connection was not made: it was declined, or the request is locked or was withdrawn.';
    case 'refused':
      return problem.message ?? 'carevault could not continue with this identity code.';
  }
}

type Deps = {
  connect: ConnectService;
  /** The person behind an account and the name of the record a grant reaches. */
  approvedBy(accountId: string, deviceCode: string, grantId: string): Promise<{ recordName: string; collectUntil: Date } | undefined>;
  codeGuesses: Limit;
  pollInterval: number;
  /** The name a person knows the clinic's app by. */
  appName(clientId: string): Promise<string>;
};

/** The page of a connect request: where its flow ends, and where a step that is over leads. */
export function requestPage(id: string): string {
  return `/connect-requests/${id}`;
}

/** Patient Connect's parameters of a device authorization request. */
function connectParams(connect: ConnectService): Record<string, DeviceParam> {
  const text =
    (name: keyof typeof TEXT_LIMITS): DeviceParam =>
    async (value, request) => {
      if (value === undefined || value.trim() === '') throw new Invalid(`${name} is required for a connect request`);
      if (value.length > TEXT_LIMITS[name] || !isCleanText(value)) throw new Invalid(`${name} must be plain text of at most ${TEXT_LIMITS[name]} characters`);
      if (name === 'external_id') {
        if (!request.scopes.includes('offline_access')) throw new Invalid('a connect request must ask for offline_access', 'invalid_scope');
        const existing = await connect.pendingFor(request.clientId, value);
        if (existing) throw new Conflict(`a pending connect request for external_id ${value} exists already: ${existing}`);
      }
      return value;
    };
  return {
    external_id: text('external_id'),
    friendly_name: text('friendly_name'),
    question: text('question'),
    async answer(value) {
      if (value === undefined || normalizeAnswer(value).length < MIN_ANSWER_LENGTH) {
        throw new Invalid(`answer is required and must be at least ${MIN_ANSWER_LENGTH} characters`);
      }
      if (value.length > MAX_ANSWER_CHARS || !isCleanText(value)) throw new Invalid(`answer must be plain text of at most ${MAX_ANSWER_CHARS} characters`);
      return hashAnswer(value);
    },
  };
}

export function connectDeviceHooks({ connect, approvedBy, codeGuesses, pollInterval, appName }: Deps): DeviceFlowHooks {
  return {
    // HealthVault's codes: 20 letters without vowels or look-alikes, in 5 groups of 4.
    userCode: { charset: 'base-20', mask: CODE_MASK },
    lifetime: daysInSeconds(UNUSED_DAYS),
    pollInterval,
    params: connectParams(connect),
    async requested({ deviceCode, clientId, params }) {
      await connect.requested({
        deviceCode,
        clientId,
        externalId: params.external_id ?? '',
        friendlyName: params.friendly_name ?? '',
        question: params.question ?? '',
        answerHash: params.answer ?? '',
      });
    },
    prompt: {
      name: CONNECT_PROMPT,
      async state(deviceCode, accountId) {
        const state = await connect.promptState(deviceCode, accountId);
        if (state.kind === 'ask') return { kind: 'ask', details: { connect_request: state.request.id } };
        if (state.kind === 'ended') return state;
        return { kind: 'skip' };
      },
    },
    approved: (deviceCode, grantId, accountId) => approvedBy(accountId, deviceCode, grantId),
    stepStarted: (uid, deviceCode) => connect.stepStarted(uid, deviceCode),
    async usedCode(deviceCode) {
      const standing = await connect.standingOfCode(deviceCode);
      return standing && codeWords(standing, await appName(standing.clientId));
    },
    async pageOf(deviceCode) {
      const standing = await connect.standingOfCode(deviceCode);
      return standing && requestPage(standing.id);
    },
    declined: (deviceCode) => connect.declined(deviceCode),
    poll: (deviceCode, clientId) => connect.poll(deviceCode, clientId),
    pollWords: { expired: 'the connect request has expired', ended: 'the connect request was locked, declined or withdrawn' },
    codeGuesses,
    pages: {
      userCode: (form, problem) => renderPage('connect/code', { title: 'Connect a clinic', ...form, error: wordsFor(problem) }),
      success: ({ appName, approval }) =>
        renderPage('connect/done', {
          title: 'Connected',
          lines: [
            `You connected ${appName} — see Connected apps.`,
            `${appName} can now reach ${approval?.recordName ?? 'the chosen'}'s record, in the ways you allowed.`,
          ],
          link: { href: '/apps', text: 'Connected apps' },
        }),
      tooManyGuesses: (locked) =>
        renderPage('pages/message', {
          title: 'Too many wrong codes',
          message: `${locked.message} Wait ${Math.ceil(locked.retryAfterSeconds / 60)} minutes, then enter the code again.`,
          link: { href: '/', text: 'Go to the carevault home page' },
        }),
      startAgain: () =>
        renderPage('pages/message', {
          title: 'Please start again',
          message: 'This form has expired or did not come from carevault.',
          link: { href: VERIFICATION_PATH, text: 'Enter the identity code again' },
        }),
    },
  };
}
