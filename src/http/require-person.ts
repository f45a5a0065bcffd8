/**
 * The signed-in person of a request: app.ts looks them up once from the session; pages read them
 * only through {@link personOf} (may be nobody) or {@link signedInPerson} (behind
 * {@link requirePerson}, which sends everyone else to sign in and brings them back).
 */
import type { RequestHandler, Response } from 'express';
import type { Person } from '../accounts/person';

/** Remembers who is signed in, and in which sign-in session, for the rest of the request (the layout shows them too). */
export function setPerson(res: Response, person: Person | undefined, sessionUid?: string): void {
  res.locals.person = person;
  res.locals.sessionUid = person ? sessionUid : undefined;
}

/** The uid of the sign-in session of this request's person, if any. */
export function sessionUidOf(res: Response): string | undefined {
  return typeof res.locals.sessionUid === 'string' ? res.locals.sessionUid : undefined;
}

/** The signed-in person, or `undefined` for nobody. */
export function personOf(res: Response): Person | undefined {
  return res.locals.person as Person | undefined;
}

/** The signed-in person of a route behind {@link requirePerson}. */
export function signedInPerson(res: Response): Person {
  const person = personOf(res);
  if (!person) throw new Error('signedInPerson without requirePerson in front');
  return person;
}

export const requirePerson: RequestHandler = (req, res, next) => {
  if (personOf(res)) {
    next();
    return;
  }
  res.redirect(303, `/login?return=${encodeURIComponent(req.originalUrl)}`);
};
