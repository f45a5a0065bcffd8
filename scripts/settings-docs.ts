/**
 * `npm run docs:settings`: writes the settings table of docs/operators/settings.md (between its
 * markers) and the whole of .env.example from the one description each setting carries in
 * src/config.ts, with each default as the schema gives it. `--check` only reports whether the files
 * are current. test/unit/settings-docs.test.ts fails when the committed files differ from what this
 * writes, so a setting cannot be added, or changed, without its documentation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SETTING_GROUPS, documentedSettings, type DocumentedSetting } from '../src/config';

export const SETTINGS_DOC = 'docs/operators/settings.md';
export const ENV_EXAMPLE = '.env.example';

const BEGIN = '<!-- settings table: generated from src/config.ts by `npm run docs:settings`; edit the descriptions there -->';
const END = '<!-- end of the generated settings table -->';
const ENV_WIDTH = 100;

/** The settings, refused when a description would say something the schema does not do. */
export function settingsToDocument(settings: readonly DocumentedSetting[] = documentedSettings()): readonly DocumentedSetting[] {
  for (const setting of settings) {
    if (setting.default !== undefined && (setting.unset !== undefined || setting.example !== undefined)) {
      throw new Error(
        `setting ${setting.name} has a default (${setting.default}): its documentation may not also say what leaving it unset means or give an example`,
      );
    }
    if (!SETTING_GROUPS.includes(setting.group)) throw new Error(`setting ${setting.name} is in an unknown group: ${String(setting.group)}`);
  }
  return settings;
}

/** `1209600` → `14 days`; `undefined` for an amount that reads best as seconds. */
function inWords(seconds: number): string | undefined {
  const units: [number, string][] = [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, unit] of units) {
    if (seconds >= size && seconds % size === 0) {
      const count = seconds / size;
      return `${count} ${unit}${count === 1 ? '' : 's'}`;
    }
  }
  return undefined;
}

function defaultCell(setting: DocumentedSetting): string {
  if (setting.default === undefined) return setting.unset ? `— (${setting.unset})` : '—';
  const words = setting.seconds ? inWords(Number(setting.default)) : undefined;
  return `\`${setting.default}\`${words ? ` (${words})` : ''}`;
}

/** The Markdown tables, one per group, that go between the markers of docs/operators/settings.md. */
export function settingsTable(settings: readonly DocumentedSetting[]): string {
  const sections = SETTING_GROUPS.flatMap((group) => {
    const rows = settings.filter((setting) => setting.group === group);
    if (rows.length === 0) return [];
    return [
      [
        `## ${group}`,
        '',
        '| setting | default | meaning |',
        '|---|---|---|',
        ...rows.map((setting) => `| \`${setting.name}\` | ${defaultCell(setting)} | ${setting.description.replaceAll('|', '\\|')} |`),
      ].join('\n'),
    ];
  });
  return sections.join('\n\n');
}

/** `doc` with the text between its markers replaced by `table`. */
export function withSettingsTable(doc: string, table: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${SETTINGS_DOC} must hold the two marker lines:\n${BEGIN}\n${END}`);
  return `${doc.slice(0, begin + BEGIN.length)}\n\n${table}\n\n${doc.slice(end)}`;
}

/** Markdown as a comment reads it: no backticks, emphasis or link targets. */
function plain(markdown: string): string {
  return markdown
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replaceAll('**', '')
    .replaceAll('`', '');
}

function commentLines(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + 1 + word.length > ENV_WIDTH && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

function envLine(setting: DocumentedSetting): string {
  if (setting.default !== undefined) return `# ${setting.name}=${setting.default}`;
  if (setting.example !== undefined) return `# ${setting.name}=${setting.example}`;
  // A blank to fill in, where an empty value means "not set".
  return setting.emptyMeansUnset ? `${setting.name}=` : `# ${setting.name}=`;
}

const ENV_HEADER = [
  '# carevault settings. Every setting is an environment variable, validated at start: a bad value',
  '# stops the process with one line naming it. carevault does not read this file itself; copy it to',
  '# .env and load it with `set -a; . ./.env; set +a`, `node --env-file=.env dist/src/server.js`',
  '# or `docker run --env-file .env`.',
  '#',
  '# Lines starting with "# NAME=" show the default (or an example): uncomment to change it. Leave a',
  '# setting out rather than empty to get its default; "NAME=" with nothing after it means not set.',
  '# Durations are in seconds. The same descriptions, as a table: docs/operators/settings.md.',
  '# Generated from src/config.ts by `npm run docs:settings`: edit the descriptions there.',
];

/** The whole of .env.example. */
export function envExample(settings: readonly DocumentedSetting[]): string {
  const blocks = SETTING_GROUPS.flatMap((group) => {
    const members = settings.filter((setting) => setting.group === group);
    if (members.length === 0) return [];
    const title = `# --- ${group} `.padEnd(ENV_WIDTH, '-');
    return [[title, ...members.map((setting) => [...commentLines(plain(setting.description)), envLine(setting)].join('\n'))].join('\n\n')];
  });
  return `${[ENV_HEADER.join('\n'), ...blocks].join('\n\n').trimEnd()}\n`;
}

/** What both files should hold, given the settings doc as it is now (its prose stays). */
export function generated(root: string, settings = settingsToDocument()): Record<string, string> {
  const doc = fs.readFileSync(path.join(root, SETTINGS_DOC), 'utf8');
  return {
    [SETTINGS_DOC]: withSettingsTable(doc, settingsTable(settings)),
    [ENV_EXAMPLE]: envExample(settings),
  };
}

function main(): void {
  const root = process.cwd();
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, content] of Object.entries(generated(root))) {
    const target = path.join(root, file);
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
    if (current === content) continue;
    stale += 1;
    if (check) {
      console.error(`${file} is out of date: run npm run docs:settings`);
    } else {
      fs.writeFileSync(target, content);
      console.log(`wrote ${file}`);
    }
  }
  if (check && stale > 0) process.exit(1);
}

if (require.main === module) main();
