/**
 * The metrics settings (src/config.ts): off unless METRICS_ENABLED says so, and a METRICS_TOKEN too
 * short to be a secret stops start-up naming it.
 */
import { ConfigError, loadConfig } from '../../src/config';

const UNSET = { METRICS_ENABLED: undefined, METRICS_TOKEN: undefined };

test('metrics are off by default, with no token', () => {
  expect(loadConfig(UNSET).metrics).toEqual({ enabled: false, token: undefined });
});

test('METRICS_ENABLED and METRICS_TOKEN turn them on behind a token', () => {
  const token = 'x'.repeat(32);
  expect(loadConfig({ ...UNSET, METRICS_ENABLED: 'true', METRICS_TOKEN: token }).metrics).toEqual({ enabled: true, token });
  expect(loadConfig({ ...UNSET, METRICS_ENABLED: '1' }).metrics.enabled).toBe(true);
});

test('bad metrics settings name themselves', () => {
  expect(() => loadConfig({ ...UNSET, METRICS_ENABLED: 'yes' })).toThrow(ConfigError);
  expect(() => loadConfig({ ...UNSET, METRICS_ENABLED: 'yes' })).toThrow(/METRICS_ENABLED/);
  expect(() => loadConfig({ ...UNSET, METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
});
