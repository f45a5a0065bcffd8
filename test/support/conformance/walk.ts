/**
 * The conformance walk: every field of a discovery document (and every member of a list field) is
 * looked up in a table of checks keyed by what it advertises. A field or a value without an entry
 * is reported as unchecked, so advertising something nobody tests fails the build; every entry's
 * check is then run and its failure reported with the field and value it was proving.
 */
import { stripVTControlCharacters } from 'node:util';
import type { Json } from './world';

/** Proves one advertised value works (throws when it does not). */
export type Check = () => Promise<void>;

/**
 * How a field is checked: one check for the whole value, or, for a list, a check per member
 * (`undefined` for a member nobody checks).
 */
export type FieldEntry = { value: (value: unknown) => Check } | { each: (member: string) => Check | undefined };

export type Table = Readonly<Record<string, FieldEntry>>;

/** One advertised thing: where it is, what it says, and its check (if any). */
export type Advertised = { where: string; value: unknown; check: Check | undefined };

/**
 * The same table with each check run at most once per field and value (`memo` keeps the
 * promise), so a document repeating another's values (SMART's and OpenID's) re-uses the proof.
 */
export function once(table: Table, memo: <T>(key: string, make: () => Promise<T>) => Promise<T>): Table {
  const wrapped: Record<string, FieldEntry> = {};
  for (const [field, entry] of Object.entries(table)) {
    const key = (value: unknown) => `check:${field}=${JSON.stringify(value)}`;
    wrapped[field] =
      'each' in entry
        ? {
            each: (member) => {
              const check = entry.each(member);
              return check && (() => memo(key(member), check));
            },
          }
        : {
            value: (value) => {
              const check = entry.value(value);
              return () => memo(key(value), check);
            },
          };
  }
  return wrapped;
}

/** The advertised things of a flat document (discovery): each field, each list member. */
export function advertisedIn(document: Json, table: Table): Advertised[] {
  const items: Advertised[] = [];
  for (const [field, value] of Object.entries(document)) {
    const entry = Object.hasOwn(table, field) ? table[field] : undefined;
    if (!entry) {
      items.push({ where: field, value, check: undefined });
    } else if ('each' in entry) {
      const members = Array.isArray(value) ? value : [value];
      for (const member of members) items.push({ where: field, value: member, check: typeof member === 'string' ? entry.each(member) : undefined });
    } else {
      items.push({ where: field, value, check: entry.value(value) });
    }
  }
  return items;
}

export type WalkReport = { checked: number; unchecked: string[]; failed: string[]; lines: string[] };

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // Jest's matcher messages carry colour codes and several lines.
  return stripVTControlCharacters(text).replace(/\s+/g, ' ').slice(0, 600);
}

/** Runs the checks one after another (the embedded database has one connection anyway). */
export async function walk(document: string, items: readonly Advertised[]): Promise<WalkReport> {
  const report: WalkReport = { checked: 0, unchecked: [], failed: [], lines: [] };
  for (const item of items) {
    const label = `${document} ${item.where} = ${describe(item.value)}`;
    if (!item.check) {
      report.unchecked.push(`${label}: advertised, but no check proves it`);
      continue;
    }
    const started = Date.now();
    try {
      await item.check();
      report.checked += 1;
      report.lines.push(`ok   ${label} (${Date.now() - started} ms)`);
    } catch (error) {
      report.failed.push(`${label}: ${messageOf(error)}`);
      report.lines.push(`FAIL ${label} (${Date.now() - started} ms)`);
    }
  }
  return report;
}
