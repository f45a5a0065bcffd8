/**
 * CSRF protection for our own forms: signed double-submit tokens (csrf-csrf), tied to a random
 * per-browser cookie so that one browser's token is useless in another.
 * https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html
 */
import type { RequestHandler } from 'express';
import { doubleCsrf } from 'csrf-csrf';
import { Forbidden } from '../http/errors';
import { randomToken } from './secrets';

const BROWSER_COOKIE = 'cv.browser';

export function createCsrf(secret: string, secure: boolean) {
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => secret,
    getSessionIdentifier: (req) => String(req.cookies?.[BROWSER_COOKIE] ?? ''),
    cookieName: secure ? '__Host-cv.csrf' : 'cv.csrf',
    cookieOptions: { sameSite: 'lax', path: '/', secure, httpOnly: true },
    getCsrfTokenFromRequest: (req) => (req.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
  });

  /** Gives every page a token (and the browser its cookie) to put in its forms. */
  const issue: RequestHandler = (req, res, next) => {
    if (!req.cookies?.[BROWSER_COOKIE]) {
      const id = randomToken(16);
      req.cookies = { ...req.cookies, [BROWSER_COOKIE]: id };
      res.cookie(BROWSER_COOKIE, id, { httpOnly: true, sameSite: 'lax', secure, path: '/' });
    }
    res.locals.csrfToken = generateCsrfToken(req, res, { overwrite: false, validateOnReuse: false });
    next();
  };

  /** Refuses a form post without a valid token. */
  const verify: RequestHandler = (req, _res, next) => {
    if (!validateRequest(req)) {
      next(new Forbidden('This form has expired or did not come from carevault. Go back, reload the page and try again.', 'invalid_csrf_token'));
      return;
    }
    next();
  };

  return { issue, verify };
}

export type Csrf = ReturnType<typeof createCsrf>;
