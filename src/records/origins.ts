/**
 * Where a record's items came from, as its Provenance resources say: an item a Provenance targets,
 * with a document as its entity, came "from <agent>'s document of <date>" (the agent who sent it,
 * the date the document states). One read of the record's Provenance serves a whole page.
 * https://hl7.org/fhir/R4/provenance.html
 */
import type { RecordRepository } from '../fhir/repository';

type Json = Record<string, unknown>;

const PAGE = 1000;
/** At most this many Provenance resources are read for one page. */
const READ_AT_MOST = 10_000;

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]).filter((entry) => typeof entry === 'object' && entry !== null) : []);

/** "from Lakeside Family Clinic's document of 2 March 2026", or `undefined` when it names no document. */
function originWords(provenance: Json): string | undefined {
  const document = list(provenance.entity).find((entity) => text((entity.what as Json | undefined)?.reference)?.startsWith('DocumentReference/'));
  if (!document) return undefined;
  const agent =
    list(provenance.agent)
      .map((entry) => text((entry.who as Json | undefined)?.display))
      .find(Boolean) ?? 'an unnamed sender';
  // The day as the document states it, in its own time zone.
  const date = text(provenance.occurredDateTime) ?? text(provenance.recorded);
  const day = date && /^\d{4}-\d{2}-\d{2}/.test(date) ? ` of ${DAY.format(new Date(`${date.slice(0, 10)}T00:00:00Z`))}` : '';
  return `from ${agent}’s document${day}`;
}

/** The origin of each item a Provenance of the record targets, by `Type/id`. */
export async function originsOf(repository: RecordRepository): Promise<Map<string, string>> {
  const origins = new Map<string, string>();
  let after: number | undefined;
  let read = 0;
  do {
    const page = await repository.everything(['Provenance'], { count: PAGE, ...(after !== undefined ? { after } : {}) });
    for (const { content } of page.resources) {
      if (content.resourceType !== 'Provenance') continue;
      read += 1;
      const words = originWords(content);
      if (!words) continue;
      for (const target of list(content.target)) {
        const reference = text(target.reference);
        if (reference && !origins.has(reference)) origins.set(reference, words);
      }
    }
    after = page.nextCursor;
  } while (after !== undefined && read < READ_AT_MOST);
  return origins;
}
