/**
 * Settings. This is the only module that reads `process.env`: every setting is an environment
 * variable, checked once at start-up, and a bad one stops the process with one line naming it.
 * Each setting carries its one description (`.meta`): the settings table in
 * docs/operators/settings.md and `.env.example` are generated from it (`npm run docs:settings`).
 */
import path from 'node:path';
import { z } from 'zod';

/** The headings the settings documentation lists settings under, in this order. */
export const SETTING_GROUPS = [
  'Server',
  'Database',
  'Secrets and registration',
  'Lifetimes',
  'Sign-in and request limits',
  'Patient Connect',
  'DOPU (drop-off and pick-up)',
  'FHIR Bundles and imports',
  'Mail',
  'Direct messaging',
  'Metrics',
] as const;

/** What the documentation says of one setting; its default comes from the schema itself. */
type SettingDoc = {
  group: (typeof SETTING_GROUPS)[number];
  /** What the setting does and accepts, in Markdown. */
  description: string;
  /** For a setting without a default value: what leaving it unset means. */
  unset?: string;
  /** For a setting without a default value: a value `.env.example` shows. */
  example?: string;
  /** The value is a number of seconds. */
  seconds?: true;
};

const doc = (setting: SettingDoc): SettingDoc => setting;

/** A whole number above zero (a limit, a count, a duration in seconds), `fallback` when unset. */
const positiveInteger = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const seconds = positiveInteger;
/** `true`/`1` or `false`/`0` (empty or unset: off). */
const onOff = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((value) => value === 'true' || value === '1');
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const schema = z
  .object({
    PORT: z.coerce
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(3000)
      .meta(
        doc({
          group: 'Server',
          description: 'TCP port to listen on (0–65535).',
        }),
      ),
    ISSUER: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()).meta(
      doc({
        group: 'Server',
        unset: '`http://localhost:$PORT`',
        example: 'https://vault.example.org',
        description:
          'Public base URL, `http` or `https`, no trailing slash (one is removed); also the OpenID issuer. Set it to the address people and apps use. An `https` issuer turns on `Secure` cookies and HSTS.',
      }),
    ),
    DATABASE_URL: optionalText
      .pipe(
        z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
          .optional(),
      )
      .meta(
        doc({
          group: 'Database',
          unset: 'the embedded database',
          example: 'postgres://carevault:secret@localhost:5432/carevault',
          description: '`postgres://` or `postgresql://` URL of a PostgreSQL server. Unset: the embedded database (PGlite) under `DATA_DIR`.',
        }),
      ),
    DATA_DIR: z
      .string()
      .trim()
      .min(1)
      .default('./data')
      .meta(
        doc({
          group: 'Database',
          description:
            'Directory of the embedded database (resolved against the working directory), and of the mail outbox; the database is unused with `DATABASE_URL`.',
        }),
      ),
    DB_POOL_MAX: z.coerce
      .number()
      .int()
      .min(1)
      .max(100)
      .default(10)
      .meta(
        doc({
          group: 'Database',
          description:
            'Most database connections per process (1–100), on a PostgreSQL server. On the embedded database each process uses one connection: PGlite is a single PostgreSQL session behind its socket, and queries sent on several connections at once get their protocol messages mixed ("portal cannot be run"), so they queue on one.',
        }),
      ),
    KEY_ENCRYPTION_SECRET: optionalText.pipe(z.string().min(32, 'must be at least 32 characters').optional()).meta(
      doc({
        group: 'Secrets and registration',
        unset: 'stored in clear',
        description:
          'At least 32 characters (generate one with `openssl rand -base64 48`). When set, the secrets kept in the database — the signing keys, and in the table `server_secrets` the generated cookie key (`cookie_key`), the pairwise salt (`pairwise_salt`) and the DOPU package-key pepper (`dopu_pepper`) — are encrypted under it (ones stored earlier in clear are encrypted at the next start). Keep it: without it, or with another one, carevault cannot start on that database. Unset, anyone with a copy of the database can sign access and ID tokens carevault accepts, and the server says so in a warning at every start.',
      }),
    ),
    COOKIE_KEYS: optionalText
      .pipe(
        z
          .string()
          .transform((value) =>
            value
              .split(',')
              .map((key) => key.trim())
              .filter(Boolean),
          )
          .pipe(z.array(z.string().min(32, 'each key must be at least 32 characters')).min(1))
          .optional(),
      )
      .meta(
        doc({
          group: 'Secrets and registration',
          unset: 'generated once, kept in the database',
          description:
            'Comma-separated cookie-signing keys, each at least 32 characters; the first signs, all verify. To rotate, put the new key first and keep the old ones for a while: authenticator apps set up for two-step sign-in are sealed under these keys (or under KEY_ENCRYPTION_SECRET when set) and keep working while the key they were sealed under is listed. Unset: a single key is generated on first start and kept in the database (`server_secrets`, name `cookie_key`), shared by every instance.',
        }),
      ),
    REGISTRATION_INITIAL_ACCESS_TOKEN: optionalText.pipe(z.string().min(32, 'must be at least 32 characters').optional()).meta(
      doc({
        group: 'Secrets and registration',
        unset: 'dynamic registration off',
        description:
          'At least 32 characters (e.g. `openssl rand -hex 32`). When set, dynamic client registration is enabled at `/oauth/register` for callers presenting it as a Bearer token. Unset: apps are registered only with `npx carevault apps create`.',
      }),
    ),
    REGISTRATION_ALLOW_PRIVATE_URIS: onOff.meta(
      doc({
        group: 'Secrets and registration',
        description:
          '`true`/`1` or `false`/`0`. Registration (CLI and dynamic) refuses a `sector_identifier_uri` or `jwks_uri` whose host is loopback, private, link-local or `localhost`, and carevault never fetches a URL whose host resolves to such an address. `true` lifts both — for tests and closed networks only.',
      }),
    ),
    SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: onOff.meta(
      doc({
        group: 'Secrets and registration',
        description:
          '`true`/`1` or `false`/`0`. A FHIR `Subscription` must name an `https` endpoint whose host resolves only to public addresses, checked when it is created or changed and again before each delivery. `true` also allows `http` and loopback, private or link-local hosts — for tests and closed networks only.',
      }),
    ),
    TRUST_PROXY: onOff.meta(
      doc({
        group: 'Server',
        description:
          '`true`/`1` or `false`/`0`. Trust `X-Forwarded-*` headers from a reverse proxy (client address for rate limits, https detection). Only behind a proxy you run. carevault serves plain http, so an `https` `ISSUER` needs a TLS proxy and `TRUST_PROXY=true`: without it the server refuses to start and says so.',
      }),
    ),
    LOG_LEVEL: z
      .enum(['debug', 'info', 'warn', 'error', 'silent'])
      .default('info')
      .meta(
        doc({
          group: 'Server',
          description:
            '`debug`, `info`, `warn`, `error` or `silent`. Logs are one JSON line per event on stderr (pino). Every failed request (each 5xx) is one `error` line with its `request_id` — also sent as the `X-Request-Id` response header, kept from the request when it is a plain token — the method, the path without its query, the status and the cause; never passwords, secrets, codes or tokens. `debug` adds a line per request.',
        }),
      ),
    ACCESS_TOKEN_TTL: seconds(3600).meta(doc({ group: 'Lifetimes', seconds: true, description: 'Lifetime of access tokens.' })),
    SESSION_TTL: seconds(14 * 24 * 3600).meta(doc({ group: 'Lifetimes', seconds: true, description: "Lifetime of a person's sign-in session." })),
    INTERACTION_TTL: seconds(3600).meta(doc({ group: 'Lifetimes', seconds: true, description: 'Time allowed to finish a sign-in or consent interaction.' })),
    OFFLINE_REFRESH_TOKEN_TTL: z.coerce
      .number()
      .int()
      .min(0)
      .default(0)
      .meta(
        doc({
          group: 'Lifetimes',
          seconds: true,
          description: 'Lifetime of refresh tokens of offline authorizations; `0` means until revoked.',
        }),
      ),
    ONLINE_REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600).meta(
      doc({
        group: 'Lifetimes',
        seconds: true,
        description: 'Lifetime of other refresh tokens (`online_access`).',
      }),
    ),
    SWEEP_INTERVAL: seconds(600).meta(
      doc({
        group: 'Lifetimes',
        seconds: true,
        description:
          'How often each instance deletes expired rows (codes, tokens, sessions, interactions, rate-limit counters) and marks DOPU packages and connect requests past their days as expired.',
      }),
    ),
    SHUTDOWN_TIMEOUT: z.coerce
      .number()
      .int()
      .min(1)
      .max(600)
      .default(10)
      .meta(
        doc({
          group: 'Server',
          seconds: true,
          description:
            'Seconds (1–600). On SIGTERM or SIGINT carevault stops accepting connections, answers what still arrives on open ones with `Connection: close`, lets idle kept-alive connections reach their 5-second keep-alive timeout (closing them sooner races a request the client is sending), and exits 0 within this time; connections still open a second before it are cut.',
        }),
      ),
    REFRESH_REUSE_GRACE: z.coerce
      .number()
      .int()
      .min(0)
      .max(60)
      .default(5)
      .meta(
        doc({
          group: 'Lifetimes',
          seconds: true,
          description:
            'Seconds (0–60). A refresh token presented again within this many seconds of its rotation is an app retrying after a lost response: the first such retry gets a new working pair from the same chain (the pair it replaces, refresh and access token, is withdrawn), later ones are refused with `invalid_grant` without ending the authorization; after the grace, reusing it ends the whole authorization. `0` turns the grace off.',
        }),
      ),
    SIGNIN_FAILURES_PER_ACCOUNT: positiveInteger(5).meta(
      doc({
        group: 'Sign-in and request limits',
        description:
          'Wrong passwords for one email from one client address within `SIGNIN_LOCK_DURATION` before that address is locked out of that account for `SIGNIN_LOCK_DURATION` (other addresses are not). Past this many wrong passwords for the email from anywhere, each further one makes the addresses that guessed at it wait twice as long as the last (1 s … 60 s); an address that has not guessed is never made to wait. Twice this many wrong Patient Connect identity codes lock an address.',
      }),
    ),
    SIGNIN_FAILURES_PER_ADDRESS: positiveInteger(50).meta(
      doc({
        group: 'Sign-in and request limits',
        description:
          'Failed sign-ins from one client address within `SIGNIN_LOCK_DURATION` before that address is locked (for every account); also the number of registrations (taken emails included) one address may try per hour.',
      }),
    ),
    SIGNIN_LOCK_DURATION: seconds(15 * 60).meta(
      doc({
        group: 'Sign-in and request limits',
        seconds: true,
        description: 'The counting window and the lock time for the two limits above, and for wrong Patient Connect identity codes.',
      }),
    ),
    AUTHORIZATION_REQUESTS_PER_ADDRESS: positiveInteger(60).meta(
      doc({
        group: 'Sign-in and request limits',
        description:
          'Authorization requests (`/authorize`) one client address may make per minute; each stores an interaction, so past it they are answered 429 with `Retry-After` before anything is stored.',
      }),
    ),
    CONNECT_POLL_INTERVAL: z.coerce
      .number()
      .int()
      .min(1)
      .max(60)
      .default(5)
      .meta(
        doc({
          group: 'Patient Connect',
          seconds: true,
          description: 'Seconds (1–60) a Patient Connect app waits between polls of the token endpoint (`interval`); a poll sooner gets `slow_down`.',
        }),
      ),
    SMTP_URL: optionalText.pipe(z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional()).meta(
      doc({
        group: 'Mail',
        unset: '`.eml` files in `DATA_DIR/outbox`',
        description:
          '`smtp://` or `smtps://` URL (with `user:password@` if the server wants it) of the mail server that sends pickup emails and the account’s links (email verification, password recovery). Unset: each email is written as an `.eml` file into `DATA_DIR/outbox` instead (on either database), for you to inspect or hand to a mail system.',
      }),
    ),
    MAIL_FROM: optionalText.pipe(z.string().max(254).optional()).meta(
      doc({
        group: 'Mail',
        unset: "`carevault <no-reply@(the ISSUER's host)>`",
        example: 'carevault <no-reply@vault.example.org>',
        description: "The `From` of carevault's emails (at most 254 characters).",
      }),
    ),
    PICKUP_CODE_FAILURES_PER_ADDRESS: positiveInteger(20).meta(
      doc({
        group: 'DOPU (drop-off and pick-up)',
        description: 'Unknown or malformed pickup codes one client address may enter within an hour before it is locked out of `/pickup` for an hour.',
      }),
    ),
    PICKUP_WRONG_ANSWERS_PER_PERSON: positiveInteger(10).meta(
      doc({
        group: 'DOPU (drop-off and pick-up)',
        description:
          "Wrong answers to packages' questions one account may give within an hour, across all packages, before its answers are refused (429) for an hour.",
      }),
    ),
    PICKUP_EMAILS_PER_APP: positiveInteger(20).meta(
      doc({
        group: 'DOPU (drop-off and pick-up)',
        description: 'Drop-offs with a pickup `email` one app may make per hour; past it they are refused with 429 and `Retry-After`, nothing stored.',
      }),
    ),
    FHIR_BUNDLE_MAX_READS: z.coerce
      .number()
      .int()
      .positive()
      .max(1000)
      .default(100)
      .meta(
        doc({
          group: 'FHIR Bundles and imports',
          description:
            '1–1000. Entries of one transaction or batch Bundle that read or search (conditional creates included); a Bundle with more is refused with 413 `too-costly` before any work.',
        }),
      ),
    FHIR_BUNDLE_MAX_RESOURCES: positiveInteger(1000).meta(
      doc({
        group: 'FHIR Bundles and imports',
        description:
          'Resources the reads and searches of one Bundle may return in all (a search may overshoot it by its included resources, at most 500); past it, further reads answer 413 `too-costly`.',
      }),
    ),
    FHIR_LARGE_BUNDLES_PER_APP: positiveInteger(100).meta(
      doc({
        group: 'FHIR Bundles and imports',
        description: 'Large Bundles (over 100 entries or 1 MB) one app may send to `/fhir` per hour; past it, 429 with `Retry-After`.',
      }),
    ),
    IMPORTS_PER_PERSON: positiveInteger(20).meta(
      doc({
        group: 'FHIR Bundles and imports',
        description:
          'Import reviews and imports (each validates a whole file of up to 5 MB) one person may ask for per hour; past it, the page answers 429 with `Retry-After`.',
      }),
    ),
    DIRECT_DOMAIN: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a domain name like direct.example.org')
      .default('direct.localhost')
      .meta(
        doc({
          group: 'Direct messaging',
          description: "The domain of records' Direct addresses (`<name>@<domain>`); the SMTP receiver takes mail for it.",
        }),
      ),
    DIRECT_SMTP_PORT: optionalText.pipe(z.coerce.number<string | undefined>().int().min(1).max(65535).optional()).meta(
      doc({
        group: 'Direct messaging',
        unset: 'no SMTP receiver',
        example: '2525',
        description: 'Port (1–65535) of the Direct SMTP receiver. Unset: no SMTP receiver (the API still works).',
      }),
    ),
    DIRECT_SMTP_AUTH_FAILURES_PER_APP: positiveInteger(5).meta(
      doc({
        group: 'Direct messaging',
        description:
          'Wrong client secrets for one app from one client address within `DIRECT_SMTP_AUTH_LOCK_DURATION` before that address is locked out of that app at the SMTP receiver. Past this many for the app from anywhere, each further one makes the addresses that guessed at it wait twice as long as the last (1 s … 60 s); the app itself is never locked, and an address that has not guessed is heard at once.',
      }),
    ),
    DIRECT_SMTP_AUTH_FAILURES_PER_ADDRESS: positiveInteger(50).meta(
      doc({
        group: 'Direct messaging',
        description:
          'Failed SMTP `AUTH` attempts from one client address within `DIRECT_SMTP_AUTH_LOCK_DURATION`, across apps, before that address is locked out of the SMTP receiver.',
      }),
    ),
    DIRECT_SMTP_AUTH_LOCK_DURATION: seconds(15 * 60).meta(
      doc({
        group: 'Direct messaging',
        seconds: true,
        description: 'The counting window and the lock time of the two SMTP `AUTH` limits above.',
      }),
    ),
    DIRECT_TLS_CERT: optionalText.meta(
      doc({
        group: 'Direct messaging',
        unset: 'no `STARTTLS`',
        example: '/etc/carevault/direct-cert.pem',
        description:
          "PEM certificate file for the SMTP receiver's `STARTTLS`; set together with `DIRECT_TLS_KEY`. Without them `AUTH` is accepted in clear text — for loopback, tests, or behind a TLS-terminating relay only.",
      }),
    ),
    DIRECT_TLS_KEY: optionalText.meta(
      doc({
        group: 'Direct messaging',
        unset: 'no `STARTTLS`',
        example: '/etc/carevault/direct-key.pem',
        description: "PEM private key file for the SMTP receiver's `STARTTLS`; set together with `DIRECT_TLS_CERT`.",
      }),
    ),
    METRICS_ENABLED: onOff.meta(
      doc({
        group: 'Metrics',
        description: '`true`/`1` or `false`/`0`. Serve Prometheus metrics at `/metrics`. Off by default: they describe the traffic.',
      }),
    ),
    METRICS_TOKEN: optionalText.pipe(z.string().min(32, 'must be at least 32 characters').optional()).meta(
      doc({
        group: 'Metrics',
        unset: '`/metrics` open',
        description:
          'At least 32 characters. When set, a scrape of `/metrics` must send `Authorization: Bearer <token>` (Prometheus: `authorization: { credentials: … }`). Unset: `/metrics` is open to whoever reaches it — keep it off the public network.',
      }),
    ),
  })
  .strip()
  .superRefine((env, context) => {
    // A certificate without its key (or the reverse) would silently mean "no STARTTLS".
    if (Boolean(env.DIRECT_TLS_CERT) !== Boolean(env.DIRECT_TLS_KEY)) {
      const missing = env.DIRECT_TLS_CERT ? 'DIRECT_TLS_KEY' : 'DIRECT_TLS_CERT';
      context.addIssue({ code: 'custom', path: [missing], message: 'DIRECT_TLS_CERT and DIRECT_TLS_KEY must be set together' });
    }
  });

/** One setting as the documentation shows it: its description, and its default as the schema gives it. */
export type DocumentedSetting = SettingDoc & {
  name: string;
  /** The value used when the variable is not set, as text; `undefined` when there is none. */
  default: string | undefined;
  /** An empty value (`NAME=`) means "not set". */
  emptyMeansUnset: boolean;
};

/**
 * Every setting, in the schema's order, for the generated documentation.
 * @throws Error naming a setting that has no description.
 */
export function documentedSettings(): DocumentedSetting[] {
  return Object.entries(schema.shape).map(([name, setting]) => {
    const meta = setting.meta() as SettingDoc | undefined;
    if (!meta?.description) throw new Error(`setting ${name} has no description: give it .meta(doc({ … })) in src/config.ts`);
    const fallback = setting.safeParse(undefined);
    const empty = setting.safeParse('');
    return {
      ...meta,
      name,
      default: fallback.success && fallback.data !== undefined ? String(fallback.data) : undefined,
      emptyMeansUnset: empty.success && empty.data === undefined,
    };
  });
}

export type Config = Readonly<{
  port: number;
  /** Public base URL; also the OpenID issuer identifier (no trailing slash). */
  issuer: string;
  /** Served over https (the issuer says so): cookies are Secure, HSTS is sent. */
  secure: boolean;
  /** `undefined` means the embedded PostgreSQL (PGlite) under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolMax: number;
  keyEncryptionSecret: string | undefined;
  cookieKeys: readonly string[] | undefined;
  registrationInitialAccessToken: string | undefined;
  trustProxy: boolean;
  /** Apps may name loopback, private or link-local hosts in URLs carevault fetches (tests, closed networks). */
  registrationAllowPrivateUris: boolean;
  /** Subscriptions may notify `http` and loopback, private or link-local endpoints (tests, closed networks). */
  subscriptionAllowPrivateEndpoints: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  ttl: Readonly<{
    accessToken: number;
    session: number;
    interaction: number;
    /** 0: an offline authorization's refresh token lives until it is revoked. */
    offlineRefreshToken: number;
    onlineRefreshToken: number;
  }>;
  sweepInterval: number;
  /** Seconds a SIGTERM'd server takes at most to drain its connections and exit. */
  shutdownTimeout: number;
  /** Seconds a just-rotated refresh token is refused without ending its authorization. */
  refreshReuseGrace: number;
  signIn: Readonly<{ failuresPerAccount: number; failuresPerAddress: number; lockDuration: number }>;
  /** Authorization requests one client address may make per minute (each stores an interaction). */
  authorizationRequestsPerAddress: number;
  /** Seconds a Patient Connect app waits between polls of the token endpoint (RFC 8628 `interval`). */
  connectPollInterval: number;
  /** Outgoing mail: SMTP when `smtpUrl` is set, else `.eml` files in `<dataDir>/outbox`. */
  mail: Readonly<{ smtpUrl: string | undefined; from: string }>;
  /** Unknown pickup codes one client address may try per hour before it is locked for an hour. */
  pickupCodeFailuresPerAddress: number;
  /** Wrong pickup answers one account may give within an hour, across packages, before it waits out the hour. */
  pickupWrongAnswersPerPerson: number;
  /** Drop-offs with a pickup email one app may make per hour. */
  pickupEmailsPerApp: number;
  /** What one transaction or batch Bundle at /fhir may make the server do. */
  fhirBundles: Readonly<{
    /** Entries that read or search; a Bundle with more is refused (413) before any work. */
    maxReads: number;
    /** Resources its reads and searches may return in all; past it, further reads answer 413. */
    maxResources: number;
    /** Large Bundles (over 100 entries or 1 MB) one app may send per hour. */
    largePerApp: number;
  }>;
  /** Import reviews and imports one person may ask for per hour (each validates a whole file). */
  importsPerPerson: number;
  direct: Readonly<{
    /** Records' Direct addresses are `<name>@<domain>`. */
    domain: string;
    /** The SMTP receiver's port; `undefined`: no SMTP receiver. */
    smtpPort: number | undefined;
    /** PEM files for STARTTLS; `undefined`: AUTH without TLS (loopback, tests, behind a TLS relay). */
    tls: Readonly<{ certFile: string; keyFile: string }> | undefined;
    /** Wrong client secrets at SMTP AUTH: per app from one address, per address, and the lock's seconds. */
    smtpAuth: Readonly<{ failuresPerApp: number; failuresPerAddress: number; lockDuration: number }>;
  }>;
  /** Prometheus metrics at `/metrics`; off unless asked for, since they describe the traffic. */
  metrics: Readonly<{
    enabled: boolean;
    /** When set, a scrape must send `Authorization: Bearer <token>`. */
    token: string | undefined;
  }>;
}>;

/** Thrown for a setting that fails validation; the message names the setting. */
export class ConfigError extends Error {}

/**
 * Reads and validates the settings from the environment (`overrides` win, for tests and the CLI).
 * @throws ConfigError naming the first bad setting.
 */
export function loadConfig(overrides: Record<string, string | undefined> = {}): Config {
  const parsed = schema.safeParse({ ...process.env, ...overrides });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') ?? 'environment';
    throw new ConfigError(`setting ${name} is invalid: ${issue?.message ?? 'bad value'}`);
  }
  const env = parsed.data;
  const issuer = (env.ISSUER ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return Object.freeze({
    port: env.PORT,
    issuer,
    secure: issuer.startsWith('https:'),
    databaseUrl: env.DATABASE_URL,
    dataDir: path.resolve(env.DATA_DIR),
    dbPoolMax: env.DB_POOL_MAX,
    keyEncryptionSecret: env.KEY_ENCRYPTION_SECRET,
    cookieKeys: env.COOKIE_KEYS ? Object.freeze([...env.COOKIE_KEYS]) : undefined,
    registrationInitialAccessToken: env.REGISTRATION_INITIAL_ACCESS_TOKEN,
    trustProxy: env.TRUST_PROXY,
    registrationAllowPrivateUris: env.REGISTRATION_ALLOW_PRIVATE_URIS,
    subscriptionAllowPrivateEndpoints: env.SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS,
    logLevel: env.LOG_LEVEL,
    ttl: Object.freeze({
      accessToken: env.ACCESS_TOKEN_TTL,
      session: env.SESSION_TTL,
      interaction: env.INTERACTION_TTL,
      offlineRefreshToken: env.OFFLINE_REFRESH_TOKEN_TTL,
      onlineRefreshToken: env.ONLINE_REFRESH_TOKEN_TTL,
    }),
    sweepInterval: env.SWEEP_INTERVAL,
    shutdownTimeout: env.SHUTDOWN_TIMEOUT,
    refreshReuseGrace: env.REFRESH_REUSE_GRACE,
    signIn: Object.freeze({
      failuresPerAccount: env.SIGNIN_FAILURES_PER_ACCOUNT,
      failuresPerAddress: env.SIGNIN_FAILURES_PER_ADDRESS,
      lockDuration: env.SIGNIN_LOCK_DURATION,
    }),
    authorizationRequestsPerAddress: env.AUTHORIZATION_REQUESTS_PER_ADDRESS,
    connectPollInterval: env.CONNECT_POLL_INTERVAL,
    mail: Object.freeze({ smtpUrl: env.SMTP_URL, from: env.MAIL_FROM ?? `carevault <no-reply@${new URL(issuer).hostname}>` }),
    pickupCodeFailuresPerAddress: env.PICKUP_CODE_FAILURES_PER_ADDRESS,
    pickupWrongAnswersPerPerson: env.PICKUP_WRONG_ANSWERS_PER_PERSON,
    pickupEmailsPerApp: env.PICKUP_EMAILS_PER_APP,
    fhirBundles: Object.freeze({
      maxReads: env.FHIR_BUNDLE_MAX_READS,
      maxResources: env.FHIR_BUNDLE_MAX_RESOURCES,
      largePerApp: env.FHIR_LARGE_BUNDLES_PER_APP,
    }),
    importsPerPerson: env.IMPORTS_PER_PERSON,
    direct: Object.freeze({
      domain: env.DIRECT_DOMAIN,
      smtpPort: env.DIRECT_SMTP_PORT,
      tls:
        env.DIRECT_TLS_CERT && env.DIRECT_TLS_KEY
          ? Object.freeze({ certFile: path.resolve(env.DIRECT_TLS_CERT), keyFile: path.resolve(env.DIRECT_TLS_KEY) })
          : undefined,
      smtpAuth: Object.freeze({
        failuresPerApp: env.DIRECT_SMTP_AUTH_FAILURES_PER_APP,
        failuresPerAddress: env.DIRECT_SMTP_AUTH_FAILURES_PER_ADDRESS,
        lockDuration: env.DIRECT_SMTP_AUTH_LOCK_DURATION,
      }),
    }),
    metrics: Object.freeze({ enabled: env.METRICS_ENABLED, token: env.METRICS_TOKEN }),
  });
}
