/**
 * Every rate limit carevault keeps, in one table: its name (also the prefix its counters are stored
 * under), what it counts, its kind (a lock, a growing wait, or a plain rate), its window, lock or
 * longest wait, the words a refused caller reads, and the setting that governs each number. Services
 * and features look their limits up by name; nothing else decides a limit's numbers or words.
 * Limits take their own database connection: never consult one inside a transaction.
 * OWASP Authentication Cheat Sheet, "Account lockout"; RFC 6585 §4.
 */
import type { Config } from '../config';
import type { Database } from '../db';
import { LARGE_BUNDLE_ENTRIES } from '../fhir/limits';
import { createBackoff, createLimit, createRate, type Backoff, type Limit, type Rate } from './limiters';

/** A number of a limit: fixed, or read from a setting (named, so the table says what governs it). */
type Amount = number | { setting: string; of(config: Config): number };

/** What a refused caller reads; a function when the words name the limit's own count. */
type Words = string | ((count: number) => string);

type Row =
  /** `points` failures per `window` seconds lock the key for `lock` seconds. */
  | { kind: 'lock'; counts: string; points: Amount; window: Amount; lock: Amount; message: Words }
  /** After `free` failures per `window` seconds, each failure doubles the key's wait, up to `maxDelay` seconds. */
  | { kind: 'backoff'; counts: string; free: Amount; window: Amount; maxDelay: Amount; message: Words }
  /** `points` requests per `window` seconds; past it, the key waits for the window to end. */
  | { kind: 'rate'; counts: string; points: Amount; window: Amount; message: Words };

const HOUR = 3600;

/** The longest wait wrong secrets for one account or app impose on the addresses that sent them. */
const SIGNIN_MAX_DELAY = 60;

const signInFailuresPerAccount: Amount = { setting: 'SIGNIN_FAILURES_PER_ACCOUNT', of: (config) => config.signIn.failuresPerAccount };
const signInFailuresPerAddress: Amount = { setting: 'SIGNIN_FAILURES_PER_ADDRESS', of: (config) => config.signIn.failuresPerAddress };
const signInLock: Amount = { setting: 'SIGNIN_LOCK_DURATION', of: (config) => config.signIn.lockDuration };
const smtpAuthFailuresPerApp: Amount = { setting: 'DIRECT_SMTP_AUTH_FAILURES_PER_APP', of: (config) => config.direct.smtpAuth.failuresPerApp };
const smtpAuthFailuresPerAddress: Amount = { setting: 'DIRECT_SMTP_AUTH_FAILURES_PER_ADDRESS', of: (config) => config.direct.smtpAuth.failuresPerAddress };
const smtpAuthLock: Amount = { setting: 'DIRECT_SMTP_AUTH_LOCK_DURATION', of: (config) => config.direct.smtpAuth.lockDuration };

export const RATE_LIMITS = {
  'signin-account-address': {
    kind: 'lock',
    counts: 'wrong passwords for one account from one address',
    points: signInFailuresPerAccount,
    window: signInLock,
    lock: signInLock,
    message: 'Too many wrong passwords for this account from your network.',
  },
  'signin-account': {
    kind: 'backoff',
    counts: 'wrong passwords for one account from anywhere (only addresses that guessed at it wait)',
    free: signInFailuresPerAccount,
    window: signInLock,
    maxDelay: SIGNIN_MAX_DELAY,
    message: 'Too many wrong passwords for this account.',
  },
  'signin-address': {
    kind: 'lock',
    counts: 'wrong passwords from one address, whatever the account',
    points: signInFailuresPerAddress,
    window: signInLock,
    lock: signInLock,
    message: 'Too many sign-in attempts from your network.',
  },
  'register-address': {
    kind: 'lock',
    counts: 'registrations from one address, taken emails included',
    points: signInFailuresPerAddress,
    window: HOUR,
    lock: HOUR,
    message: 'Too many accounts were created from your network.',
  },
  'authorize-address': {
    kind: 'rate',
    counts: 'authorization requests from one address (each stores an interaction)',
    points: { setting: 'AUTHORIZATION_REQUESTS_PER_ADDRESS', of: (config) => config.authorizationRequestsPerAddress },
    window: 60,
    message: 'Too many sign-in requests came from your network.',
  },
  'imports-person': {
    kind: 'rate',
    counts: 'import reviews and imports by one person',
    points: { setting: 'IMPORTS_PER_PERSON', of: (config) => config.importsPerPerson },
    window: HOUR,
    message: (count) => `You have asked for ${count} imports or import reviews in the last hour, as many as one person may.`,
  },
  'fhir-large-bundles-app': {
    kind: 'rate',
    counts: `large transaction or batch Bundles (over ${LARGE_BUNDLE_ENTRIES} entries or 1 MB) from one app`,
    points: { setting: 'FHIR_LARGE_BUNDLES_PER_APP', of: (config) => config.fhirBundles.largePerApp },
    window: HOUR,
    message: (count) => `This app has sent ${count} large Bundles (over ${LARGE_BUNDLE_ENTRIES} entries or 1 MB) in the last hour, as many as one app may.`,
  },
  'pickup-code-address': {
    kind: 'lock',
    counts: 'unknown pickup codes from one address',
    points: { setting: 'PICKUP_CODE_FAILURES_PER_ADDRESS', of: (config) => config.pickupCodeFailuresPerAddress },
    window: HOUR,
    lock: HOUR,
    message: 'Too many wrong pickup codes were tried from your network.',
  },
  'pickup-answer-person': {
    kind: 'lock',
    counts: 'wrong answers to packages’ questions from one account, across packages',
    points: { setting: 'PICKUP_WRONG_ANSWERS_PER_PERSON', of: (config) => config.pickupWrongAnswersPerPerson },
    window: HOUR,
    lock: HOUR,
    message: 'Too many wrong answers to packages’ questions were given from your account.',
  },
  'pickup-email-app': {
    kind: 'rate',
    counts: 'drop-offs with a pickup email from one app',
    points: { setting: 'PICKUP_EMAILS_PER_APP', of: (config) => config.pickupEmailsPerApp },
    window: HOUR,
    message: (count) =>
      `This app has had its ${count} pickup emails for this hour, so nothing was stored. Drop the package off without email and hand the person the pickup code, or ask for the email later.`,
  },
  'connect-code-address': {
    kind: 'lock',
    counts: 'wrong identity codes (Patient Connect) from one address',
    points: { setting: 'SIGNIN_FAILURES_PER_ACCOUNT', of: (config) => config.signIn.failuresPerAccount * 2 },
    window: signInLock,
    lock: signInLock,
    message: 'Too many wrong identity codes from your network.',
  },
  'direct-smtp-app-address': {
    kind: 'lock',
    counts: 'wrong client secrets at SMTP AUTH for one app from one address',
    points: smtpAuthFailuresPerApp,
    window: smtpAuthLock,
    lock: smtpAuthLock,
    message: 'Too many failed sign-ins for this app from your network.',
  },
  'direct-smtp-app': {
    kind: 'backoff',
    counts: 'wrong client secrets at SMTP AUTH for one app from anywhere (only addresses that guessed at it wait)',
    free: smtpAuthFailuresPerApp,
    window: smtpAuthLock,
    maxDelay: SIGNIN_MAX_DELAY,
    message: 'Too many failed sign-ins for this app.',
  },
  'direct-smtp-address': {
    kind: 'lock',
    counts: 'wrong client secrets at SMTP AUTH from one address, whatever the app',
    points: smtpAuthFailuresPerAddress,
    window: smtpAuthLock,
    lock: smtpAuthLock,
    message: 'Too many failed sign-ins from your network.',
  },
  'clinical-documents-person': {
    kind: 'rate',
    counts: 'clinical documents (C-CDA) one person has read — reviewed, reconciled or imported; each runs the converter on up to 5 MB',
    points: 120,
    window: HOUR,
    message: (count) => `You have had ${count} clinical documents read in the last hour, as many as one person may. Try again later.`,
  },
  'message-mail-person': {
    kind: 'rate',
    counts: 'emails telling one person that a Direct message arrived (later messages in the window are covered by the earlier email)',
    points: 1,
    window: 15 * 60,
    message: 'We told you of a new message a short while ago.',
  },
  'register-taken-person': {
    kind: 'rate',
    counts: 'emails telling one person that someone tried to create an account with their email (later tries in the window are covered by the earlier email)',
    points: 1,
    window: 24 * HOUR,
    message: 'We told you of a try to register your email a short while ago.',
  },
  'verify-resend-person': {
    kind: 'rate',
    counts: 'verification links one person asks to be sent again',
    points: 3,
    window: HOUR,
    message: (count) => `We have sent you ${count} links in the last hour, as many as we send. Use the newest one, or ask again in an hour.`,
  },
  'recover-address': {
    kind: 'rate',
    counts: 'password recovery requests from one address, whatever the email',
    points: 10,
    window: HOUR,
    message: 'Too many password recovery requests came from your network. Try again in an hour.',
  },
  'recover-email': {
    kind: 'rate',
    counts: 'password recovery requests for one email, whether or not an account uses it',
    points: 3,
    window: HOUR,
    message: 'Too many links were asked for this email in the last hour. Use the newest one, or try again in an hour.',
  },
  'password-change-person': {
    kind: 'lock',
    counts: 'wrong current passwords typed by one signed-in person on the account page (a stolen session cannot guess without end)',
    points: signInFailuresPerAccount,
    window: signInLock,
    lock: signInLock,
    message: 'Too many wrong passwords. Try again later, or sign out and use Forgot password?.',
  },
  'account-close-person': {
    kind: 'lock',
    counts: 'wrong passwords typed by one signed-in person to close their account (a stolen session cannot guess its way to erasing records)',
    points: signInFailuresPerAccount,
    window: signInLock,
    lock: signInLock,
    message: 'Too many wrong passwords. Try again later, or sign out and use Forgot password?.',
  },
  'email-change-person': {
    kind: 'rate',
    counts: 'email changes one person asks for (each mails two addresses)',
    points: 3,
    window: HOUR,
    message: (count) => `You asked to change your email ${count} times in the last hour, as many as we send. Use the newest link, or ask again in an hour.`,
  },
  'sharing-invitations-person': {
    kind: 'rate',
    counts: 'sharing invitations one person sends (each mails an address they typed)',
    points: 20,
    window: HOUR,
    message: (count) => `You have sent ${count} invitations in the last hour, as many as one person may. Try again in an hour.`,
  },
  'two-step-person': {
    kind: 'lock',
    counts: 'wrong second-step codes (authenticator or recovery code) for one account, at sign-in, step-up or a reset',
    points: 5,
    window: 15 * 60,
    lock: 15 * 60,
    message: 'Too many wrong codes for this account.',
  },
  'direct-unknown-recipient': {
    kind: 'lock',
    counts: 'Direct messages to addresses that do not exist, per sender (addresses are guessable)',
    points: 100,
    window: HOUR,
    lock: HOUR,
    message: 'Too many messages to Direct addresses that do not exist.',
  },
} as const satisfies Record<string, Row>;

type Table = typeof RATE_LIMITS;
type NameOf<Kind extends Row['kind']> = { [Name in keyof Table]: Table[Name]['kind'] extends Kind ? Name : never }[keyof Table];

type LockName = NameOf<'lock'>;
type BackoffName = NameOf<'backoff'>;
type RateName = NameOf<'rate'>;

function amount(value: Amount, config: Config): number {
  return typeof value === 'number' ? value : value.of(config);
}

function words(message: Words, count: number): string {
  return typeof message === 'string' ? message : message(count);
}

/** The settings that govern a limit's numbers (none: its numbers are fixed). */
export function settingsOf(row: Row): string[] {
  const amounts: Amount[] =
    row.kind === 'backoff' ? [row.free, row.window, row.maxDelay] : row.kind === 'lock' ? [row.points, row.window, row.lock] : [row.points, row.window];
  return [...new Set(amounts.flatMap((value) => (typeof value === 'number' ? [] : [value.setting])))];
}

/**
 * The limits of the table with this instance's settings, each built once on first use and shared
 * by whoever looks it up.
 */
export function createRateLimits(db: Pick<Database, 'knex'>, config: Config) {
  const built = new Map<string, Limit | Backoff | Rate>();
  const once = <T extends Limit | Backoff | Rate>(name: string, build: () => T): T => {
    let limit = built.get(name) as T | undefined;
    if (!limit) {
      limit = build();
      built.set(name, limit);
    }
    return limit;
  };
  return {
    lock(name: LockName): Limit {
      const row: Row = RATE_LIMITS[name];
      if (row.kind !== 'lock') throw new Error(`${name} is not a lock`);
      const points = amount(row.points, config);
      return once(name, () =>
        createLimit(db, {
          prefix: name,
          points,
          duration: amount(row.window, config),
          lockDuration: amount(row.lock, config),
          message: words(row.message, points),
        }),
      );
    },
    backoff(name: BackoffName): Backoff {
      const row: Row = RATE_LIMITS[name];
      if (row.kind !== 'backoff') throw new Error(`${name} is not a backoff`);
      const free = amount(row.free, config);
      return once(name, () =>
        createBackoff(db, {
          prefix: name,
          free,
          window: amount(row.window, config),
          maxDelay: amount(row.maxDelay, config),
          message: words(row.message, free),
        }),
      );
    },
    rate(name: RateName): Rate {
      const row: Row = RATE_LIMITS[name];
      if (row.kind !== 'rate') throw new Error(`${name} is not a rate`);
      const points = amount(row.points, config);
      return once(name, () => createRate(db, { prefix: name, points, duration: amount(row.window, config), message: words(row.message, points) }));
    },
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;
