/**
 * Every kind of audit event the code appends has words on a record's history — the core's own and
 * each feature's — so no history line ever shows a raw kind ("An app: record.opened"). The kinds
 * are found by reading the sources: a new `kind: '…'` without words fails here. Also: repeated
 * reads fold into one line per day with a count and a time range, in the person's time zone,
 * while grants and removals stay lines of their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { groupHistory } from '../../src/audit/grouping';
import type { AuditEventRow } from '../../src/audit/store';
import { CORE_KINDS, describeEvent, type AuditWords } from '../../src/audit/words';
import { FEATURES } from '../../src/features';

const SRC = path.join(__dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

const featureWords: AuditWords = Object.assign({}, ...FEATURES.map((feature) => feature.auditWords ?? {}));
const worded = new Set<string>([...CORE_KINDS, ...Object.keys(featureWords)]);

/** Every audit kind the sources name: `kind: 'a.b'`, a kind chosen by a ternary, or handed to a helper that appends it. */
function kindsInSources(): Map<string, string> {
  const found = new Map<string, string>();
  const prefixes = new Set<string>();
  const files = sources(SRC).map((file) => ({ file: path.relative(SRC, file), text: fs.readFileSync(file, 'utf8') }));
  for (const { text } of files) for (const match of text.matchAll(/kind:\s*'([a-z]+)\.[a-z_]+'/g)) prefixes.add(match[1] ?? '');
  for (const kind of worded) prefixes.add(kind.split('.')[0] ?? '');
  const literal = new RegExp(`'((?:${[...prefixes].join('|')})\\.[a-z_]+)'`, 'g');
  for (const { file, text } of files) {
    // Each audit line is appended by code that says `kind`, `event(` or `lineFor(` near the literal.
    for (const match of text.matchAll(literal)) {
      const before = text.slice(Math.max(0, (match.index ?? 0) - 120), match.index);
      if (/kind|event\(|lineFor\(|audit/.test(before)) found.set(match[1] ?? '', file);
    }
  }
  return found;
}

const event = (kind: string, details: Record<string, unknown> = {}, at = '2026-03-10T14:02:00Z'): AuditEventRow => ({
  id: '1',
  record_id: '00000000-0000-4000-8000-000000000001',
  subject: null,
  occurred_at: new Date(at),
  kind,
  client_id: 'clinic',
  person_id: null,
  details,
});
const names = new Map([['clinic', 'Demo Clinic']]);

test('every audit kind appended anywhere in the code has words', () => {
  const found = kindsInSources();
  // The scan finds the kinds it must (core and features alike).
  for (const kind of ['authorization.granted', 'token.refreshed', 'fhir.read', 'record.opened', 'dopu.picked_up', 'connect.authorized', 'direct.received']) {
    expect(found.has(kind)).toBe(true);
  }
  const missing = [...found].filter(([kind]) => !worded.has(kind)).map(([kind, file]) => `${kind} (${file})`);
  expect(missing).toEqual([]);
  // And no line falls back to the raw kind or the catch-all words.
  for (const kind of found.keys()) {
    const line = describeEvent(event(kind, { type: 'Observation', count: 2, person_name: 'Sam' }), names, featureWords);
    expect(line.summary).not.toContain(kind);
    expect(line.summary).not.toMatch(/did something to this record/);
  }
});

test('five identical searches on a day fold into one line with a count and a range; a grant and a removal stay their own lines', () => {
  const at = (time: string) => `2026-03-10T${time}:00Z`;
  const events = [
    event('fhir.searched', { type: 'Observation', count: 3 }, at('14:40')),
    event('authorization.removed', { by: 'person', person_name: 'Sam' }, at('14:30')),
    event('fhir.searched', { type: 'Observation', count: 3 }, at('14:20')),
    event('fhir.searched', { type: 'Observation', count: 1 }, at('14:10')),
    event('fhir.searched', { type: 'Condition', count: 1 }, at('14:05')),
    event('fhir.searched', { type: 'Observation', count: 0 }, at('14:04')),
    event('fhir.searched', { type: 'Observation', count: 2 }, at('14:02')),
    event('authorization.granted', { person_name: 'Sam', access: 'online', rules: 'patient/Observation.rs' }, at('14:01')),
  ].map((row) => describeEvent(row, names, featureWords));
  const [day, ...others] = groupHistory(events, 'UTC');
  expect(others).toEqual([]);
  expect(day?.lines.map((line) => `${line.time}${line.until ? `–${line.until}` : ''} ${line.summary}`)).toEqual([
    '14:02–14:40 Demo Clinic searched observations 5 times',
    "14:30 Sam removed Demo Clinic's access",
    '14:05 Demo Clinic searched and found 1 condition',
    expect.stringMatching(/^14:01 Sam allowed Demo Clinic to reach this record/),
  ]);
});

test('days and times are the person’s: late evening in New York is the day before in UTC', () => {
  const lines = [
    event('fhir.read', { type: 'Observation', count: 1 }, '2026-03-11T02:30:00Z'),
    event('fhir.created', { type: 'Observation', count: 1 }, '2026-03-10T15:00:00Z'),
  ].map((row) => describeEvent(row, names, featureWords));
  expect(groupHistory(lines, 'UTC').map((day) => [day.date, day.lines.map((line) => line.time)])).toEqual([
    ['2026-03-11', ['02:30']],
    ['2026-03-10', ['15:00']],
  ]);
  const newYork = groupHistory(lines, 'America/New_York');
  const shown = newYork.map((day) => [day.date, day.words, day.lines.map((line) => line.time)]);
  expect(shown).toEqual([['2026-03-10', 'Tuesday, 10 March 2026', ['22:30', '11:00']]]);
});
