/**
 * Comments, test names and documents state the rule they enforce, so a reader never needs a
 * tracker or a document the repository does not hold: no tracked (or new, not ignored) text file
 * cites an issue number (the word issue followed by a number, or a number in parentheses after #)
 * or the design document kept outside the repository. The lockfile and binary files are not read.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** One pattern per kind of citation; each says what was found. */
const CITATIONS: readonly { kind: string; pattern: RegExp }[] = [
  { kind: 'an issue number', pattern: /issue[ s#]*[0-9]/i },
  { kind: 'an issue reference', pattern: /\(#[0-9]+\)/ },
  { kind: 'the design document outside the repository', pattern: /DESIGN\.md/i },
];

const NOT_READ = new Set(['package-lock.json']);

/** The files git tracks, and new ones it does not ignore, as paths from the repository root. */
function repositoryFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return [...new Set(listed.split('\0').filter((file) => file !== ''))].filter(
    (file) => !NOT_READ.has(file) && fs.existsSync(path.join(ROOT, file)) && fs.statSync(path.join(ROOT, file)).isFile(),
  );
}

/** `file:line: kind` for every citation in a text file; nothing for a binary one (it holds a NUL byte). */
function citationsIn(file: string, text: string): string[] {
  if (text.includes('\0')) return [];
  return text
    .split('\n')
    .flatMap((line, index) =>
      CITATIONS.filter(({ pattern }) => pattern.test(line)).map(({ kind }) => `${file}:${index + 1}: cites ${kind}: ${line.trim().slice(0, 120)}`),
    );
}

test('the patterns find each kind of citation and leave ordinary words alone', () => {
  // Put together here so that this file does not cite anything itself.
  const cited = ['see issue' + ' 12', 'Issue #' + '3 says', 'issues ' + '4 and 5', 'fixed (#' + '27)', 'as the DESIGN' + '.md says'];
  for (const line of cited) expect(citationsIn('example.ts', line)).toHaveLength(1);
  const plain = ['tokens are issued to the app', 'an issue with the sweep', 'color: #333;', 'RFC 9449 §7', 'docs/apps/fhir.md'];
  for (const line of plain) expect(citationsIn('example.ts', line)).toEqual([]);
});

test('the scan reads the sources, tests, scripts, views and documents', () => {
  const files = repositoryFiles();
  for (const expected of ['src/server.ts', 'test/README.md', 'bench/run.ts', 'scripts/build.js', 'README.md', 'ARCHITECTURE.md']) {
    expect(files).toContain(expected);
  }
  expect(files.some((file) => file.startsWith('migrations/'))).toBe(true);
  expect(files.some((file) => file.startsWith('views/') && file.endsWith('.ejs'))).toBe(true);
  expect(files.some((file) => file.startsWith('demo/'))).toBe(true);
  expect(files.some((file) => file.startsWith('docs/') && file.endsWith('.md'))).toBe(true);
});

test('no file of the repository cites an issue number or a document it does not hold', () => {
  const found = repositoryFiles().flatMap((file) => citationsIn(file, fs.readFileSync(path.join(ROOT, file), 'utf8')));
  expect(found).toEqual([]);
});
