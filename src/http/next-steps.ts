/**
 * What a person can do after an error page, in one sentence: every error page ends with a next
 * step rather than a dead end. Chosen by the error's code first, then by its status.
 */
const BY_CODE: Readonly<Record<string, string>> = {
  invalid_csrf_token: 'Go back, reload the page, and send the form again.',
  interaction_expired: 'Go back to the app and start connecting again; nothing was shared.',
  already_answered: 'Go back to the app: your first answer counts.',
  too_many_requests: 'Wait a while (the message above says how long), then try again.',
  payload_too_large: 'Go back and send less: fewer or smaller files, or a shorter message.',
  // oidc-provider's errors (oidc/views.ts): the app made a mistake, not the person.
  invalid_client: 'Go back to the app and let its makers know: it needs to be registered with carevault. Nothing was shared.',
  invalid_redirect_uri: 'Go back to the app and let its makers know about this error. Nothing was shared.',
  invalid_request: "Go back to the app and try again; if it happens again, let the app's makers know. Nothing was shared.",
  invalid_scope: 'Go back to the app and let its makers know about this error. Nothing was shared.',
  unauthorized_client: 'Go back to the app and let its makers know about this error. Nothing was shared.',
  access_denied: 'Go back to the app. If you meant to allow it, start connecting again from the app.',
  session_not_found: 'Go back to the app and start connecting again.',
  server_error: 'Try again in a few minutes. If it keeps happening, tell whoever runs this carevault.',
};

const BY_STATUS: Readonly<Record<number, string>> = {
  400: 'Go back, check what you entered, and try again.',
  401: 'Sign in again, then try once more.',
  403: 'Sign in with the account that looks after this record, or ask the person who does.',
  404: 'Check the address, or start again from your home page.',
  409: 'Reload the page to see how things are now, then try again.',
  410: 'This is no longer available. Start again from your home page.',
  413: BY_CODE.payload_too_large ?? '',
  415: 'Go back and send the form from the page itself.',
  429: BY_CODE.too_many_requests ?? '',
};

export function nextStepFor(status: number, code: string): string {
  return BY_CODE[code] ?? BY_STATUS[status] ?? (status >= 500 ? (BY_CODE.server_error ?? '') : 'Go back and try again, or start again from your home page.');
}
