/**
 * The history page's shape: a record's history lines (newest first) grouped by day in the person's
 * time zone, with repeated reads folded into one line each. Only reads repeat harmlessly: the same
 * app (or person) doing the same read of the same kind of item on one day is one line with a count
 * and a time range ("Demo Clinic searched observations 5 times, 09:02–09:40"). Everything that
 * changes who may reach the record or what it holds — grants, removals, pickups, connections,
 * shares, writes — stays a line of its own.
 */
import type { HistoryLine } from './words';

/** A line as shown: its time (or time range) in the person's zone, and how many events it stands for. */
type ShownLine = HistoryLine & { time: string; until?: string; count: number };
export type HistoryDay = { date: string; words: string; lines: ShownLine[] };

/** A line and what it takes to tell whether it repeats another (`repeats`: the same read by the same actor). */
export type GroupableLine = HistoryLine & { repeats?: string | undefined; again?: ((count: number) => string) | undefined };

/** Formats in `timeZone` (an IANA name the caller checked): the day's key, its words and a time of day. */
function clockOf(timeZone: string) {
  const key = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone });
  const words = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone });
  const time = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone });
  return { day: (when: Date) => key.format(when), words: (when: Date) => words.format(when), time: (when: Date) => time.format(when) };
}

/**
 * Days newest first, lines newest first; a repeated read's line stands where its newest event is,
 * saying how often and from when to when.
 */
export function groupHistory(lines: readonly GroupableLine[], timeZone = 'UTC'): HistoryDay[] {
  const clock = clockOf(timeZone);
  const days = new Map<string, HistoryDay>();
  const merged = new Map<string, { line: ShownLine; again: (count: number) => string }>();
  for (const line of lines) {
    const date = clock.day(line.when);
    let day = days.get(date);
    if (!day) {
      day = { date, words: clock.words(line.when), lines: [] };
      days.set(date, day);
    }
    const key = line.repeats && line.again ? `${date} ${line.repeats}` : undefined;
    const earlier = key ? merged.get(key) : undefined;
    if (earlier) {
      // Lines come newest first: this one is older, so it moves the start of the range back.
      earlier.line.count += 1;
      earlier.line.time = clock.time(line.when);
      earlier.line.summary = earlier.again(earlier.line.count);
      continue;
    }
    const shown: ShownLine = { when: line.when, summary: line.summary, details: line.details, time: clock.time(line.when), count: 1 };
    day.lines.push(shown);
    if (key && line.again) merged.set(key, { line: shown, again: line.again });
  }
  for (const { line } of merged.values()) if (line.count > 1) line.until = clock.time(line.when);
  return [...days.values()];
}
