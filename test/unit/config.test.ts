/**
 * Settings (src/config.ts): defaults, normalization, and a ConfigError naming the bad setting.
 */
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

// loadConfig reads process.env first; these tests pin every setting they look at.
const CLEAN: Record<string, string | undefined> = {
  NODE_ENV: undefined,
  PORT: undefined,
  ISSUER: undefined,
  DATABASE_URL: undefined,
  DATA_DIR: undefined,
  DB_POOL_MAX: undefined,
  KEY_ENCRYPTION_SECRET: undefined,
  COOKIE_KEYS: undefined,
  REGISTRATION_INITIAL_ACCESS_TOKEN: undefined,
  TRUST_PROXY: undefined,
  LOG_LEVEL: undefined,
  ACCESS_TOKEN_TTL: undefined,
  SESSION_TTL: undefined,
  INTERACTION_TTL: undefined,
  OFFLINE_REFRESH_TOKEN_TTL: undefined,
  ONLINE_REFRESH_TOKEN_TTL: undefined,
  SWEEP_INTERVAL: undefined,
  SIGNIN_FAILURES_PER_ACCOUNT: undefined,
  SIGNIN_FAILURES_PER_ADDRESS: undefined,
  SIGNIN_LOCK_DURATION: undefined,
};

const saved = { ...process.env };

beforeEach(() => {
  for (const name of Object.keys(CLEAN)) delete process.env[name];
});

afterAll(() => {
  for (const name of Object.keys(CLEAN)) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

function failure(overrides: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...CLEAN, ...overrides });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(overrides)}`);
}

describe('loadConfig', () => {
  test('defaults', () => {
    const config = loadConfig(CLEAN);
    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.secure).toBe(false);
    expect(config.keyEncryptionSecret).toBeUndefined();
    expect(config.cookieKeys).toBeUndefined();
    expect(config.registrationInitialAccessToken).toBeUndefined();
    expect(config.trustProxy).toBe(false);
    expect(config.logLevel).toBe('info');
    expect(config.ttl.accessToken).toBe(3600);
    expect(config.ttl.offlineRefreshToken).toBe(0);
    expect(config.signIn).toEqual({ failuresPerAccount: 5, failuresPerAddress: 50, lockDuration: 900 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('the default issuer follows PORT', () => {
    expect(loadConfig({ ...CLEAN, PORT: '8080' }).issuer).toBe('http://localhost:8080');
  });

  test('ISSUER loses its trailing slash', () => {
    expect(loadConfig({ ...CLEAN, ISSUER: 'https://vault.example/' }).issuer).toBe('https://vault.example');
    expect(loadConfig({ ...CLEAN, ISSUER: 'https://vault.example/phr//' }).issuer).toBe('https://vault.example/phr');
    expect(loadConfig({ ...CLEAN, ISSUER: 'https://vault.example' }).issuer).toBe('https://vault.example');
  });

  test('an https issuer means secure cookies', () => {
    expect(loadConfig({ ...CLEAN, ISSUER: 'https://vault.example' }).secure).toBe(true);
    expect(loadConfig({ ...CLEAN, ISSUER: 'http://localhost:3000' }).secure).toBe(false);
  });

  test('an empty optional setting counts as unset', () => {
    const config = loadConfig({ ...CLEAN, DATABASE_URL: '', ISSUER: '', KEY_ENCRYPTION_SECRET: '' });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.keyEncryptionSecret).toBeUndefined();
  });

  test('accepts a postgres URL, COOKIE_KEYS and TRUST_PROXY', () => {
    const key = 'k'.repeat(32);
    const config = loadConfig({
      ...CLEAN,
      DATABASE_URL: 'postgres://user@db.example:5432/carevault',
      COOKIE_KEYS: `${key}, ${'m'.repeat(40)}`,
      TRUST_PROXY: 'true',
      KEY_ENCRYPTION_SECRET: 's'.repeat(32),
    });
    expect(config.databaseUrl).toBe('postgres://user@db.example:5432/carevault');
    expect(config.cookieKeys).toEqual([key, 'm'.repeat(40)]);
    expect(config.trustProxy).toBe(true);
    expect(config.keyEncryptionSecret).toBe('s'.repeat(32));
  });

  test.each(['abc', '-1', '70000', '3.5'])('a bad PORT (%p) throws ConfigError naming PORT', (value) => {
    expect(failure({ PORT: value }).message).toMatch(/\bPORT\b/);
  });

  test('a short KEY_ENCRYPTION_SECRET throws ConfigError naming it', () => {
    const error = failure({ KEY_ENCRYPTION_SECRET: 'too-short' });
    expect(error.message).toContain('KEY_ENCRYPTION_SECRET');
    expect(error.message).toContain('at least 32 characters');
  });

  test.each(['mysql://db.example/carevault', 'not a url', 'http://db.example'])('a bad DATABASE_URL (%p) throws ConfigError naming it', (value) => {
    expect(failure({ DATABASE_URL: value }).message).toContain('DATABASE_URL');
  });

  test('other bad settings name themselves too', () => {
    expect(failure({ ISSUER: 'ftp://vault.example' }).message).toContain('ISSUER');
    expect(failure({ LOG_LEVEL: 'loud' }).message).toContain('LOG_LEVEL');
    expect(failure({ SIGNIN_FAILURES_PER_ACCOUNT: '0' }).message).toContain('SIGNIN_FAILURES_PER_ACCOUNT');
    expect(failure({ COOKIE_KEYS: 'short' }).message).toContain('COOKIE_KEYS');
  });
});
