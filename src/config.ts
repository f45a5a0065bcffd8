/**
 * Settings. This is the only module that reads `process.env`: every setting is an environment
 * variable, checked once at start-up, and a bad one stops the process with one line naming it.
 */
import path from 'node:path';
import { z } from 'zod';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const schema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    ISSUER: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
    DATABASE_URL: optionalText.pipe(
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
        .optional(),
    ),
    DATA_DIR: z.string().trim().min(1).default('./data'),
    DB_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
    KEY_ENCRYPTION_SECRET: optionalText.pipe(
      z.string().min(32, 'must be at least 32 characters').optional(),
    ),
    COOKIE_KEYS: optionalText.pipe(
      z
        .string()
        .transform((value) => value.split(',').map((key) => key.trim()).filter(Boolean))
        .pipe(z.array(z.string().min(32, 'each key must be at least 32 characters')).min(1))
        .optional(),
    ),
    REGISTRATION_INITIAL_ACCESS_TOKEN: optionalText.pipe(
      z.string().min(32, 'must be at least 32 characters').optional(),
    ),
    REGISTRATION_ALLOW_PRIVATE_URIS: z
      .enum(['true', 'false', '1', '0', ''])
      .default('false')
      .transform((value) => value === 'true' || value === '1'),
    TRUST_PROXY: z
      .enum(['true', 'false', '1', '0', ''])
      .default('false')
      .transform((value) => value === 'true' || value === '1'),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    ACCESS_TOKEN_TTL: seconds(3600),
    SESSION_TTL: seconds(14 * 24 * 3600),
    INTERACTION_TTL: seconds(3600),
    OFFLINE_REFRESH_TOKEN_TTL: z.coerce.number().int().min(0).default(0),
    ONLINE_REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600),
    SWEEP_INTERVAL: seconds(600),
    SHUTDOWN_TIMEOUT: z.coerce.number().int().min(1).max(600).default(10),
    REFRESH_REUSE_GRACE: z.coerce.number().int().min(0).max(60).default(5),
    SIGNIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().positive().default(5),
    SIGNIN_FAILURES_PER_ADDRESS: z.coerce.number().int().positive().default(50),
    SIGNIN_LOCK_DURATION: seconds(15 * 60),
    AUTHORIZATION_REQUESTS_PER_ADDRESS: z.coerce.number().int().positive().default(60),
    CONNECT_POLL_INTERVAL: z.coerce.number().int().min(1).max(60).default(5),
    SMTP_URL: optionalText.pipe(z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional()),
    MAIL_FROM: optionalText.pipe(z.string().max(254).optional()),
    PICKUP_CODE_FAILURES_PER_ADDRESS: z.coerce.number().int().positive().default(20),
    PICKUP_WRONG_ANSWERS_PER_PERSON: z.coerce.number().int().positive().default(10),
    PICKUP_EMAILS_PER_APP: z.coerce.number().int().positive().default(20),
    FHIR_BUNDLE_MAX_READS: z.coerce.number().int().positive().max(1000).default(100),
    FHIR_BUNDLE_MAX_RESOURCES: z.coerce.number().int().positive().default(1000),
    FHIR_LARGE_BUNDLES_PER_APP: z.coerce.number().int().positive().default(100),
    IMPORTS_PER_PERSON: z.coerce.number().int().positive().default(20),
    DIRECT_DOMAIN: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a domain name like direct.example.org')
      .default('direct.localhost'),
    DIRECT_SMTP_PORT: optionalText.pipe(z.coerce.number<string | undefined>().int().min(1).max(65535).optional()),
    DIRECT_SMTP_AUTH_FAILURES_PER_APP: z.coerce.number().int().positive().default(5),
    DIRECT_SMTP_AUTH_FAILURES_PER_ADDRESS: z.coerce.number().int().positive().default(50),
    DIRECT_SMTP_AUTH_LOCK_DURATION: seconds(15 * 60),
    DIRECT_TLS_CERT: optionalText,
    DIRECT_TLS_KEY: optionalText,
    METRICS_ENABLED: z
      .enum(['true', 'false', '1', '0', ''])
      .default('false')
      .transform((value) => value === 'true' || value === '1'),
    METRICS_TOKEN: optionalText.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  })
  .strip()
  .superRefine((env, context) => {
    // A certificate without its key (or the reverse) would silently mean "no STARTTLS".
    if (Boolean(env.DIRECT_TLS_CERT) !== Boolean(env.DIRECT_TLS_KEY)) {
      const missing = env.DIRECT_TLS_CERT ? 'DIRECT_TLS_KEY' : 'DIRECT_TLS_CERT';
      context.addIssue({ code: 'custom', path: [missing], message: 'DIRECT_TLS_CERT and DIRECT_TLS_KEY must be set together' });
    }
  });

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
