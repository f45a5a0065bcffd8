/**
 * Settings are described once, beside their schema in src/config.ts: the table in
 * docs/operators/settings.md and the whole of .env.example are what `npm run docs:settings` writes
 * from it, so a setting added, renamed or given a new default without its documentation fails here.
 * The values .env.example shows are ones carevault accepts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { documentedSettings, loadConfig, type DocumentedSetting } from '../../src/config';
import { ENV_EXAMPLE, SETTINGS_DOC, envExample, generated, settingsTable, settingsToDocument, withSettingsTable } from '../../scripts/settings-docs';

const ROOT = path.resolve(__dirname, '..', '..');

test('docs/operators/settings.md and .env.example are what npm run docs:settings writes', () => {
  for (const [file, content] of Object.entries(generated(ROOT))) {
    const committed = fs.readFileSync(path.join(ROOT, file), 'utf8');
    // A plain equality names the file; the diff is then npm run docs:settings away.
    expect({ file, upToDate: committed === content }).toEqual({ file, upToDate: true });
  }
});

test('every setting is in the table and in .env.example, with the default the schema gives', () => {
  const table = fs.readFileSync(path.join(ROOT, SETTINGS_DOC), 'utf8');
  const env = fs.readFileSync(path.join(ROOT, ENV_EXAMPLE), 'utf8');
  const settings = documentedSettings();
  expect(settings.length).toBeGreaterThan(30);
  for (const setting of settings) {
    expect(table).toContain(`| \`${setting.name}\` |`);
    expect(env).toMatch(new RegExp(`^(# )?${setting.name}=`, 'm'));
  }
  const byName = new Map(settings.map((setting) => [setting.name, setting]));
  expect(byName.get('PORT')?.default).toBe('3000');
  expect(byName.get('TRUST_PROXY')?.default).toBe('false');
  expect(byName.get('SESSION_TTL')?.default).toBe(String(14 * 24 * 3600));
  expect(byName.get('DATABASE_URL')?.default).toBeUndefined();
  expect(table).toContain('| `SESSION_TTL` | `1209600` (14 days) |');
  expect(table).toContain('| `DATABASE_URL` | — (the embedded database) |');
});

test('.env.example loads as it is, and with every example and default uncommented', () => {
  const env = fs.readFileSync(path.join(ROOT, ENV_EXAMPLE), 'utf8');
  const names = new Set(documentedSettings().map((setting) => setting.name));
  const asIs: Record<string, string> = {};
  const uncommented: Record<string, string> = {};
  for (const line of env.split('\n')) {
    const set = /^([A-Z_]+)=(.*)$/.exec(line);
    const shown = /^# ([A-Z_]+)=(.*)$/.exec(line);
    if (set?.[1] && set[2] !== undefined) {
      asIs[set[1]] = set[2];
      uncommented[set[1]] = set[2];
    } else if (shown?.[1] && shown[2] !== undefined && names.has(shown[1])) {
      uncommented[shown[1]] = shown[2];
    }
  }
  const unset = Object.fromEntries([...names].map((name) => [name, undefined]));
  expect(() => loadConfig({ ...unset, ...asIs })).not.toThrow();
  expect(Object.keys(uncommented).sort()).toEqual([...names].sort());
  expect(() => loadConfig({ ...unset, ...uncommented })).not.toThrow();
});

describe('the generator', () => {
  const setting = (over: Partial<DocumentedSetting>): DocumentedSetting => ({
    name: 'EXAMPLE_SETTING',
    group: 'Server',
    description: 'Does `one` thing | another; see [the docs](docs/x.md).',
    default: undefined,
    emptyMeansUnset: true,
    ...over,
  });

  test('refuses documentation that says what the schema does not do', () => {
    expect(() => settingsToDocument([setting({ default: '5', unset: 'off' })])).toThrow(/EXAMPLE_SETTING has a default/);
    expect(() => settingsToDocument([setting({ default: '5', example: '6' })])).toThrow(/EXAMPLE_SETTING has a default/);
    expect(settingsToDocument([setting({ default: '5' })])).toHaveLength(1);
  });

  test('writes a table row per setting, durations also in words, and keeps the prose around the markers', () => {
    const table = settingsTable([setting({ default: '900', seconds: true }), setting({ name: 'OTHER', unset: 'off' })]);
    expect(table).toContain('## Server');
    expect(table).toContain('| `EXAMPLE_SETTING` | `900` (15 minutes) | Does `one` thing \\| another; see [the docs](docs/x.md). |');
    expect(table).toContain('| `OTHER` | — (off) |');
    const doc = fs.readFileSync(path.join(ROOT, SETTINGS_DOC), 'utf8');
    const rewritten = withSettingsTable(doc, table);
    expect(rewritten.startsWith(doc.slice(0, doc.indexOf('<!--')))).toBe(true);
    expect(rewritten).toContain(table);
    expect(() => withSettingsTable('# Settings\n', table)).toThrow(/marker/);
  });

  test('writes .env.example lines as comments in plain words, a blank only where empty means not set', () => {
    const env = envExample([
      setting({}),
      setting({ name: 'WITH_DEFAULT', default: '5' }),
      setting({ name: 'WITH_EXAMPLE', example: 'x' }),
      setting({ name: 'NOT_EMPTY', emptyMeansUnset: false }),
    ]);
    expect(env).toContain('# Does one thing | another; see the docs.\nEXAMPLE_SETTING=\n');
    expect(env).toContain('# WITH_DEFAULT=5\n');
    expect(env).toContain('# WITH_EXAMPLE=x\n');
    expect(env).toContain('# NOT_EMPTY=\n');
    expect(env.split('\n').every((line) => line.length <= 100)).toBe(true);
  });
});
