/**
 * The history page's shape: a record's history lines (newest first) grouped by day (UTC), and
 * within a day by who acted — the app, or the person — so a busy app's many reads fold into one
 * group instead of drowning the consents and removals around them.
 */
import type { HistoryLine } from './words';

type HistoryGroup = { by: string; lines: HistoryLine[] };
export type HistoryDay = { date: string; words: string; groups: HistoryGroup[] };

const DAY = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

/** Days newest first; a day's groups in the order of their newest line; lines keep their order. */
export function groupHistory(lines: readonly (HistoryLine & { by: string })[]): HistoryDay[] {
  const days = new Map<string, { words: string; groups: Map<string, HistoryLine[]> }>();
  for (const line of lines) {
    const date = line.when.toISOString().slice(0, 10);
    const day = days.get(date) ?? { words: DAY.format(line.when), groups: new Map<string, HistoryLine[]>() };
    const group = day.groups.get(line.by) ?? [];
    group.push(line);
    day.groups.set(line.by, group);
    days.set(date, day);
  }
  return [...days].map(([date, day]) => ({ date, words: day.words, groups: [...day.groups].map(([by, grouped]) => ({ by, lines: grouped })) }));
}
