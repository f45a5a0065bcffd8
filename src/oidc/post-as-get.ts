/**
 * POST at the authorization endpoint (OpenID Connect Core §3.1.2.1) and at the end-session endpoint
 * (RP-Initiated Logout 1.0 §2): both MUST accept a form-serialized POST as well as a GET.
 * oidc-provider serves POST there only when its cookies are SameSite=None, which would send the
 * person's sign-in cookies along with every cross-site POST. carevault keeps SameSite=Lax and
 * answers such a POST with a 303 to the same endpoint, the form's parameters moved to the query
 * string: the browser makes the equivalent GET (a top-level navigation, which carries Lax cookies),
 * and the request meets exactly the checks and pages a GET does.
 * https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 * https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout
 */
import express, { type RequestHandler } from 'express';
import { BadRequest, HttpError, PayloadTooLarge } from '../http/errors';

const FORM = 'application/x-www-form-urlencoded';

/**
 * The form travels on in a URL, and Node refuses a request head over 16 KB (request line and
 * cookies together), so the form stays well below that.
 */
const MAX_FORM_BYTES = 8 * 1024;

/** One form field's name or value; `+` is a space (HTML form serialization). */
function decodeField(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

/** The form's fields in order, repeated names kept (the endpoint refuses those itself). */
function parseForm(text: string): [string, string][] {
  const fields: [string, string][] = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    try {
      fields.push(eq === -1 ? [decodeField(part), ''] : [decodeField(part.slice(0, eq)), decodeField(part.slice(eq + 1))]);
    } catch {
      throw new BadRequest('The form is not valid: a field has a broken %-escape or is not UTF-8.');
    }
  }
  return fields;
}

/** Redirects a form POST at one of `paths` to the GET with the same parameters. */
export function postAsGet(paths: readonly string[]): RequestHandler {
  const readForm = express.text({ type: FORM, limit: MAX_FORM_BYTES, defaultCharset: 'utf-8' });
  return (req, res, next) => {
    if (req.method !== 'POST' || !paths.includes(req.path)) {
      next();
      return;
    }
    // A request without a body (or with an empty one and no type) is an empty form.
    const empty = req.headers['content-type'] === undefined && Number(req.headers['content-length'] ?? '0') === 0;
    if (req.is(FORM) === false && !empty) {
      next(new HttpError(415, 'unsupported_media_type', 'Send this request as a form (application/x-www-form-urlencoded), or as a GET.'));
      return;
    }
    readForm(req, res, (error?: unknown) => {
      if (error) {
        const tooLarge = (error as { type?: unknown }).type === 'entity.too.large';
        next(
          tooLarge
            ? new PayloadTooLarge(
                `The form is larger than ${MAX_FORM_BYTES / 1024} KB. Apps can push a large authorization request to the pushed authorization request endpoint first.`,
              )
            : error,
        );
        return;
      }
      try {
        // The URL's own query as it came (the GET sees it so too), then the form's fields.
        const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
        const form = new URLSearchParams(parseForm(typeof req.body === 'string' ? req.body : '')).toString();
        const search = [query, form].filter(Boolean).join('&');
        // Relative to the endpoint itself, so it holds behind a proxy that mounts carevault under a path.
        const endpoint = req.path.slice(req.path.lastIndexOf('/') + 1);
        res.set('Cache-Control', 'no-store');
        res.redirect(303, search ? `${endpoint}?${search}` : endpoint);
      } catch (refusal) {
        next(refusal);
      }
    });
  };
}
