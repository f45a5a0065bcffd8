/**
 * The person's own pages need a signed-in person; others are sent to sign in and brought back.
 */
import type { RequestHandler } from 'express';

export const requirePerson: RequestHandler = (req, res, next) => {
  if (res.locals.person) {
    next();
    return;
  }
  res.redirect(303, `/login?return=${encodeURIComponent(req.originalUrl)}`);
};
