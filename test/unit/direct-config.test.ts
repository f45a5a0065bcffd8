/**
 * Direct messaging's settings (src/config.ts, issue 12): DIRECT_DOMAIN, DIRECT_SMTP_PORT,
 * DIRECT_TLS_CERT / DIRECT_TLS_KEY — defaults and one clear line for a bad value.
 */
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

const CLEAN = { DIRECT_DOMAIN: undefined, DIRECT_SMTP_PORT: undefined, DIRECT_TLS_CERT: undefined, DIRECT_TLS_KEY: undefined };

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
  expect(loadConfig(CLEAN).direct).toEqual({ domain: 'direct.localhost', smtpPort: undefined, tls: undefined });
  expect(loadConfig({ ...CLEAN, DIRECT_SMTP_PORT: '' }).direct.smtpPort).toBeUndefined();
});

test('values are normalized', () => {
  const config = loadConfig({ ...CLEAN, DIRECT_DOMAIN: ' Direct.Example.ORG ', DIRECT_SMTP_PORT: '2525', DIRECT_TLS_CERT: 'tls/cert.pem', DIRECT_TLS_KEY: 'tls/key.pem' });
  expect(config.direct).toEqual({
    domain: 'direct.example.org',
    smtpPort: 2525,
    tls: { certFile: path.resolve('tls/cert.pem'), keyFile: path.resolve('tls/key.pem') },
  });
});

test('bad values stop start-up with one line naming the setting', () => {
  expect(failure({ DIRECT_DOMAIN: 'not a domain' })).toBe('setting DIRECT_DOMAIN is invalid: must be a domain name like direct.example.org');
  expect(failure({ DIRECT_DOMAIN: 'sam@direct.example' })).toMatch(/^setting DIRECT_DOMAIN is invalid/);
  expect(failure({ DIRECT_SMTP_PORT: 'smtp' })).toMatch(/^setting DIRECT_SMTP_PORT is invalid/);
  expect(failure({ DIRECT_SMTP_PORT: '70000' })).toMatch(/^setting DIRECT_SMTP_PORT is invalid/);
  expect(failure({ DIRECT_TLS_CERT: 'cert.pem' })).toBe('setting DIRECT_TLS_KEY is invalid: DIRECT_TLS_CERT and DIRECT_TLS_KEY must be set together');
  expect(failure({ DIRECT_TLS_KEY: 'key.pem' })).toBe('setting DIRECT_TLS_CERT is invalid: DIRECT_TLS_CERT and DIRECT_TLS_KEY must be set together');
});
