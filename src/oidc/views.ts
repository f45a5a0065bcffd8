/**
 * The pages oidc-provider itself shows — its error page (which tells in words a request whose
 * sign-in ended between the answer and the resume, with the way back to the app) and the sign-out
 * confirmation — rendered with our layout. Errors that cannot be sent back to the app land here (OAuth 2.0 §4.1.2.1: never
 * redirect to an unverified redirect_uri).
 */
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { UNAVAILABLE_MESSAGE } from '../db/unavailable';
import { nextStepFor } from '../http/next-steps';
import { renderPage } from '../http/render';
import type { LostAtResume } from './interactions';

const PLAIN_WORDS: Readonly<Record<string, string>> = {
  invalid_client: 'This app is not registered with carevault, so it cannot connect to your record.',
  invalid_redirect_uri: 'The app asked to send you back to an address it has not registered, so carevault stopped here to keep your record safe.',
  invalid_request: 'The app sent a request carevault could not understand.',
  invalid_scope: 'The app asked for access it has not registered.',
  unauthorized_client: 'This app is not allowed to sign you in this way.',
  access_denied: 'Access was not given.',
  session_not_found: 'This sign-in took too long or was already finished.',
  temporarily_unavailable: UNAVAILABLE_MESSAGE,
};

export async function renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error?: Error): Promise<void> {
  ctx.type = 'html';
  // A sign-in whose interaction or session is gone (expired, finished, or rotated by another tab
  // resuming at the same moment) is the person's to start again, not the app's fault.
  const expired = error instanceof errors.SessionNotFound;
  ctx.body = await renderPage('pages/error', {
    title: expired ? 'Please start again' : out.error === 'temporarily_unavailable' ? 'Please try again shortly' : 'Something went wrong',
    message: expired
      ? 'This sign-in took too long or was already finished. Go back to the app and start again.'
      : (PLAIN_WORDS[out.error] ?? 'carevault could not complete this request.'),
    code: out.error,
    detail: out.error_description,
    nextStep: nextStepFor(ctx.status, expired ? 'session_not_found' : out.error),
  });
}

/**
 * oidc-provider's error page, telling one case in words: the person answered (Allow, Deny, or
 * signed in) but their sign-in session ended before oidc-provider resumed the request, so the app
 * never heard. The page says what happened and offers **Back to** the app (its `login_required`
 * error response), so the app can start again; any other error is the page above.
 */
export function renderErrorTelling(lostAtResume: (uid: string) => Promise<LostAtResume | undefined>) {
  return async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error?: Error): Promise<void> => {
    const uid: unknown =
      ctx.oidc?.route === 'resume' && error instanceof errors.SessionNotFound ? (ctx.params as Record<string, unknown> | undefined)?.uid : undefined;
    // Told only to the browser the request was resumed in: its resume cookie names that step.
    const resumed = typeof uid === 'string' && ctx.cookies.get(ctx.oidc.provider.cookieName('resume'), { signed: true }) === uid;
    const lost = resumed ? await lostAtResume(uid) : undefined;
    if (!lost) return renderError(ctx, out, error);
    const { clientName } = lost;
    const message =
      lost.outcome === 'allowed'
        ? `You allowed ${clientName}, but your carevault sign-in ended before ${clientName} could be told, so it has received nothing.`
        : lost.outcome === 'denied'
          ? `You pressed Deny, and your carevault sign-in ended before ${clientName} could be told. Nothing new was shared.`
          : `Your carevault sign-in ended before ${clientName} could be told how this request ended. Nothing new was shared.`;
    ctx.type = 'html';
    ctx.body = await renderPage('interactions/ended', {
      title: 'Your sign-in ended',
      heading: `${clientName} did not hear back`,
      message: lost.back ? `${message} Go back to ${clientName} and connect again; you will be asked to sign in.` : message,
      back: lost.back,
      clientName,
    });
  };
}

export async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = await renderPage('pages/logout', { title: 'Sign out', logoutForm: form });
}

export async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = await renderPage('pages/message', {
    title: 'You are signed out',
    message: 'You have signed out of carevault. Apps that could reach your records only while you were signed in no longer can.',
    link: { href: '/', text: 'Go to the carevault home page' },
  });
}
