/**
 * The table of rate limits (src/security/rate-limits.ts): every limit is in it, each number it says
 * a setting governs moves with that setting, and nothing else builds a limit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { RATE_LIMITS, settingsOf } from '../../src/security/rate-limits';

const SRC = path.resolve(__dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

type Amount = number | { setting: string; of(config: ReturnType<typeof loadConfig>): number };

test('each number a limit says a setting governs follows that setting', () => {
  const base = loadConfig({});
  for (const [name, row] of Object.entries(RATE_LIMITS)) {
    const amounts = Object.values(row).filter((value): value is Exclude<Amount, number> => typeof value === 'object' && value !== null && 'setting' in value);
    for (const amount of amounts) {
      const moved = loadConfig({ [amount.setting]: String(amount.of(base) + 7) });
      expect({ name, setting: amount.setting, moved: amount.of(moved) !== amount.of(base) }).toEqual({ name, setting: amount.setting, moved: true });
    }
  }
});

test('SMTP AUTH is governed by settings of its own, people’s sign-in by theirs', () => {
  const smtp = ['direct-smtp-app-address', 'direct-smtp-app', 'direct-smtp-address'] as const;
  for (const name of smtp) {
    for (const setting of settingsOf(RATE_LIMITS[name])) expect(setting).toMatch(/^DIRECT_SMTP_AUTH_/);
  }
  expect(settingsOf(RATE_LIMITS['signin-account-address'])).toEqual(['SIGNIN_FAILURES_PER_ACCOUNT', 'SIGNIN_LOCK_DURATION']);
  expect(settingsOf(RATE_LIMITS['direct-unknown-recipient'])).toEqual([]);
});

test('limits are built only from the table', () => {
  const builders = /\bcreate(Limit|Backoff|Rate)\(/;
  const outside = sourceFiles(SRC)
    .filter((file) => builders.test(fs.readFileSync(file, 'utf8')))
    .map((file) => path.relative(SRC, file))
    .filter((file) => !['security/limiters.ts', 'security/rate-limits.ts'].includes(file));
  expect(outside).toEqual([]);
});
