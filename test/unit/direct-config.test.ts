/**
 * Direct messaging's settings (src/config.ts): DIRECT_DOMAIN, DIRECT_SMTP_PORT,
 * DIRECT_TLS_CERT / DIRECT_TLS_KEY, the SMTP AUTH limits — defaults and one clear line for a bad value.
 */
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

const CLEAN = {
  DIRECT_DOMAIN: undefined,
  DIRECT_SMTP_PORT: undefined,
  DIRECT_TLS_CERT: undefined,
  DIRECT_TLS_KEY: undefined,
  DIRECT_SMTP_AUTH_FAILURES_PER_APP: undefined,
  DIRECT_SMTP_AUTH_FAILURES_PER_ADDRESS: undefined,
  DIRECT_SMTP_AUTH_LOCK_DURATION: undefined,
  SIGNIN_FAILURES_PER_ACCOUNT: undefined,
  SIGNIN_FAILURES_PER_ADDRESS: undefined,
  SIGNIN_LOCK_DURATION: undefined,
};

/** Today's numbers: the same as people's sign-in defaults. */
const SMTP_AUTH_DEFAULTS = { failuresPerApp: 5, failuresPerAddress: 50, lockDuration: 900 };

function failure(overrides: Record<string, string>): string {
  try {
    loadConfig({ ...CLEAN, ...overrides });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(overrides)}`);
}

test('defaults: direct.localhost, no SMTP receiver, no TLS', () => {
  expect(loadConfig(CLEAN).direct).toEqual({ domain: 'direct.localhost', smtpPort: undefined, tls: undefined, smtpAuth: SMTP_AUTH_DEFAULTS });
  expect(loadConfig({ ...CLEAN, DIRECT_SMTP_PORT: '' }).direct.smtpPort).toBeUndefined();
});

test('values are normalized', () => {
  const config = loadConfig({
    ...CLEAN,
    DIRECT_DOMAIN: ' Direct.Example.ORG ',
    DIRECT_SMTP_PORT: '2525',
    DIRECT_TLS_CERT: 'tls/cert.pem',
    DIRECT_TLS_KEY: 'tls/key.pem',
  });
  expect(config.direct).toEqual({
    domain: 'direct.example.org',
    smtpPort: 2525,
    tls: { certFile: path.resolve('tls/cert.pem'), keyFile: path.resolve('tls/key.pem') },
    smtpAuth: SMTP_AUTH_DEFAULTS,
  });
});

test('SMTP AUTH has limits of its own: the sign-in settings do not move them', () => {
  const signIn = { SIGNIN_FAILURES_PER_ACCOUNT: '2', SIGNIN_FAILURES_PER_ADDRESS: '3', SIGNIN_LOCK_DURATION: '60' };
  expect(loadConfig({ ...CLEAN, ...signIn }).direct.smtpAuth).toEqual(SMTP_AUTH_DEFAULTS);
  const own = loadConfig({
    ...CLEAN,
    DIRECT_SMTP_AUTH_FAILURES_PER_APP: '7',
    DIRECT_SMTP_AUTH_FAILURES_PER_ADDRESS: '70',
    DIRECT_SMTP_AUTH_LOCK_DURATION: '120',
  });
  expect(own.direct.smtpAuth).toEqual({ failuresPerApp: 7, failuresPerAddress: 70, lockDuration: 120 });
  expect(failure({ DIRECT_SMTP_AUTH_FAILURES_PER_APP: '0' })).toMatch(/^setting DIRECT_SMTP_AUTH_FAILURES_PER_APP is invalid/);
});

test('bad values stop start-up with one line naming the setting', () => {
  expect(failure({ DIRECT_DOMAIN: 'not a domain' })).toBe('setting DIRECT_DOMAIN is invalid: must be a domain name like direct.example.org');
  expect(failure({ DIRECT_DOMAIN: 'sam@direct.example' })).toMatch(/^setting DIRECT_DOMAIN is invalid/);
  expect(failure({ DIRECT_SMTP_PORT: 'smtp' })).toMatch(/^setting DIRECT_SMTP_PORT is invalid/);
  expect(failure({ DIRECT_SMTP_PORT: '70000' })).toMatch(/^setting DIRECT_SMTP_PORT is invalid/);
  expect(failure({ DIRECT_TLS_CERT: 'cert.pem' })).toBe('setting DIRECT_TLS_KEY is invalid: DIRECT_TLS_CERT and DIRECT_TLS_KEY must be set together');
  expect(failure({ DIRECT_TLS_KEY: 'key.pem' })).toBe('setting DIRECT_TLS_CERT is invalid: DIRECT_TLS_CERT and DIRECT_TLS_KEY must be set together');
});
