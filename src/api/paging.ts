/**
 * The one paging contract of every app API list: `limit` (1–100, default 50) items a page, oldest
 * change first; an answer with more to come carries `next`, the absolute URL of the next page (the
 * same filters and `limit`, plus an opaque `cursor`). A cursor is a position in the list — the
 * change time and id of the last item shown — that the caller hands back unread; one that this
 * server did not give is refused naming the `cursor` parameter. Lists filter alike too: `status`
 * and `since` (changed at or after).
 */
import { z } from 'zod';
import { isUuid } from '../ids';

const PAGE_LIMITS = { min: 1, max: 100, default: 50 } as const;

/** Where a page ended: lists continue strictly after it, in (time, id) order. */
export type Position = { at: Date; id: string };

const MAX_CURSOR_CHARS = 200;

function cursorOf(position: Position): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url');
}

function positionOf(cursor: string): Position | undefined {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const date = new Date(String(at));
    return typeof id === 'string' && isUuid(id) && !Number.isNaN(date.getTime()) ? { at: date, id } : undefined;
  } catch {
    return undefined;
  }
}

/** A list's `status` filter: one of the list's statuses. */
export function statusFilter<const T extends readonly [string, ...string[]]>(statuses: T, description: string) {
  return z
    .enum(statuses, { error: `must be one of ${statuses.join(', ')}` })
    .optional()
    .meta({ description });
}

/** A list's `since` filter: an RFC 3339 date and time, with its offset. */
export function sinceFilter(description: string) {
  return z.iso.datetime({ offset: true, error: 'must be a date and time like 2026-01-02T08:00:00Z' }).optional().meta({ description });
}

/** The query parameters every list takes. */
const pageParameters = {
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(PAGE_LIMITS.min, `must be at least ${PAGE_LIMITS.min}`)
    .max(PAGE_LIMITS.max, `must be at most ${PAGE_LIMITS.max}`)
    .default(PAGE_LIMITS.default)
    .meta({ description: `How many items a page holds (${PAGE_LIMITS.min}–${PAGE_LIMITS.max}).` }),
  cursor: z
    .string({ error: 'must be a string' })
    .max(MAX_CURSOR_CHARS, 'is not one this list gave; start again without it.')
    .transform((value, context) => {
      const position = positionOf(value);
      if (!position) context.addIssue({ code: 'custom', message: 'is not one this list gave; start again without it.' });
      return position ?? z.NEVER;
    })
    .optional()
    .meta({ description: 'Where the page starts: copied from the previous answer’s `next`; opaque.' }),
};

/** A list's query: its own filters and the page parameters; any other parameter is refused by name. */
export function listQuery<const S extends z.ZodRawShape>(filters: S) {
  return z.strictObject(
    { ...filters, ...pageParameters },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `${issue.keys.join(', ')}: not a parameter of this list` : 'The query is not valid.') },
  );
}

/**
 * The absolute URL of the page after `position`: the request's own query (its filters and page
 * size, as the caller wrote them) with the cursor replaced.
 */
export function nextPageUrl(base: string, query: Readonly<Record<string, unknown>>, position: Position): string {
  const params = new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== 'cursor'));
  params.set('cursor', cursorOf(position));
  return `${base}?${params.toString()}`;
}

/** What every list answers besides its items. */
export const nextLink = z.url().optional().meta({ description: 'The absolute URL of the next page; absent on the last page.' });
