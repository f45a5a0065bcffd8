/**
 * The signed cookies the sign-in pages keep between one request and the next, each scoped to its
 * interaction's path (/interaction/<uid>) and short-lived: the password passed and waiting for the
 * second step, a refused form's notice (Post/Redirect/Get), and a registration waiting for
 * **Continue**. None of them opens anything by itself.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';

/**
 * The password step passed, waiting for the second: names the interaction and the person. It opens
 * nothing without a right code or passkey.
 */
const PASSWORD_PASSED = 'cv.pwd';
const PASSWORD_PASSED_MINUTES = 10;

/**
 * A refused sign-in or registration, carried to the form's page (POST → 303 → GET), which shows it
 * once and clears it, so Back and reload never resubmit the form: the words, the status and what the
 * person typed (never the password).
 */
const NOTICE = 'cv.notice';
const NOTICE_MINUTES = 5;
const noticeShape = z.object({
  uid: z.string(),
  form: z.enum(['signin', 'register']),
  status: z.number().int(),
  error: z.string().optional(),
  retryAfter: z.number().int().optional(),
  name: z.string().default(''),
  email: z.string().default(''),
});
export type Notice = z.infer<typeof noticeShape>;

/**
 * A registration answered, waiting for **Continue**: the id the registration tried and the email it
 * was for. Both a new and a taken email set it, in the same shape; only **Continue** finds out
 * whether that id is a person (the new one, signed in at once) or nobody (the sign-in form, with
 * the email filled in).
 */
const REGISTERED = 'cv.registered';
const REGISTERED_MINUTES = 10;
const registeredShape = z.object({ uid: z.string(), id: z.string(), email: z.string(), until: z.number() });
type Registered = z.infer<typeof registeredShape>;

/** Where an interaction's pages live, and so where its cookies are sent. */
export const interactionPath = (uid: string) => `/interaction/${uid}`;

function scoped(req: Request, uid: string, minutes?: number) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: req.secure,
    signed: true,
    path: interactionPath(uid),
    ...(minutes ? { maxAge: minutes * 60_000 } : {}),
  };
}

/** A signed cookie's JSON value in `shape`, or `undefined` (absent, forged, or of another shape). */
function parsed<T>(req: Request, name: string, shape: z.ZodType<T>): T | undefined {
  const raw: unknown = req.signedCookies?.[name];
  if (typeof raw !== 'string') return undefined;
  try {
    const value = shape.safeParse(JSON.parse(raw));
    return value.success ? value.data : undefined;
  } catch {
    return undefined;
  }
}

export const passwordPassed = {
  set(req: Request, res: Response, uid: string, personId: string): void {
    const until = Date.now() + PASSWORD_PASSED_MINUTES * 60_000;
    res.cookie(PASSWORD_PASSED, `${uid}|${personId}|${until}`, scoped(req, uid, PASSWORD_PASSED_MINUTES));
  },
  /** The person whose password passed in this interaction, while it counts. */
  of(req: Request, uid: string): string | undefined {
    const passed: unknown = req.signedCookies?.[PASSWORD_PASSED];
    if (typeof passed !== 'string') return undefined;
    const [at, personId, until] = passed.split('|');
    return at === uid && personId && Number(until) > Date.now() ? personId : undefined;
  },
  clear(req: Request, res: Response, uid: string): void {
    res.clearCookie(PASSWORD_PASSED, scoped(req, uid));
  },
};

export const notices = {
  set(req: Request, res: Response, notice: Notice): void {
    // What was typed is kept only as long as the form accepts it, so the cookie stays small.
    const typed = { name: notice.name.slice(0, 200), email: notice.email.slice(0, 254) };
    res.cookie(NOTICE, JSON.stringify({ ...notice, ...typed }), scoped(req, notice.uid, NOTICE_MINUTES));
  },
  /** The notice waiting for this interaction's page, if any; it is cleared, so a reload shows none. */
  take(req: Request, res: Response, uid: string): Notice | undefined {
    const notice = parsed(req, NOTICE, noticeShape);
    if (req.signedCookies?.[NOTICE] !== undefined) res.clearCookie(NOTICE, scoped(req, uid));
    return notice?.uid === uid ? notice : undefined;
  },
};

export const registrations = {
  set(req: Request, res: Response, registered: Omit<Registered, 'until'>): void {
    const until = Date.now() + REGISTERED_MINUTES * 60_000;
    res.cookie(REGISTERED, JSON.stringify({ ...registered, until }), scoped(req, registered.uid, REGISTERED_MINUTES));
  },
  /** What a registration in this interaction tried, while its **Continue** is waiting. */
  of(req: Request, uid: string): Registered | undefined {
    const registered = parsed(req, REGISTERED, registeredShape);
    return registered?.uid === uid && registered.until > Date.now() ? registered : undefined;
  },
  clear(req: Request, res: Response, uid: string): void {
    res.clearCookie(REGISTERED, scoped(req, uid));
  },
};
