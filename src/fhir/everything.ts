/**
 * `GET /fhir/Patient/<id>/$everything`: the whole record the token may read, as a paged searchset
 * Bundle — the Patient first, then everything else in the order it was added. `_type` narrows the
 * types (each must be one the record holds), `_since` keeps what changed at or after an instant.
 * https://hl7.org/fhir/R4/patient-operation-everything.html
 */
import { RECORD_TYPES, isRecordType, type RecordType } from '../rules/catalogue';
import { InvalidResource } from './errors';
import type { EverythingPage } from './repository';
import { pageCount, parseDate } from './search';

export type EverythingRequest = { types: RecordType[]; since: Date | undefined; count: number; after: number | undefined; used: [string, string][] };

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  if (list.length > 1) throw new InvalidResource(`Give ${name} once.`);
  return typeof list[0] === 'string' ? list[0] : undefined;
}

/** The request's parameters, with the types narrowed to `readable` ones. */
export function parseEverything(query: Record<string, unknown>, readable: (type: RecordType) => boolean): EverythingRequest {
  const used: [string, string][] = [];
  let types: RecordType[] = [...RECORD_TYPES];
  const type = single(query, '_type');
  if (type !== undefined) {
    const named = type
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    const unknown = named.find((name) => !isRecordType(name));
    if (unknown !== undefined || named.length === 0) throw new InvalidResource(`_type=${type}: a record holds only ${RECORD_TYPES.join(', ')}.`);
    types = named as RecordType[];
    used.push(['_type', type]);
  }
  const sinceText = single(query, '_since');
  let since: Date | undefined;
  if (sinceText !== undefined) {
    if (!/T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(sinceText)) throw new InvalidResource(`_since must be an instant, like 2026-01-31T09:00:00Z.`);
    // To the millisecond, as meta.lastUpdated says it (a search date keeps whole seconds only).
    parseDate('_since', sinceText);
    since = new Date(sinceText);
    used.push(['_since', sinceText]);
  }
  const count = pageCount(single(query, '_count'));
  const cursorText = single(query, '_cursor');
  let after: number | undefined;
  if (cursorText !== undefined) {
    after = Number(cursorText);
    if (!/^\d{1,16}$/.test(cursorText)) throw new InvalidResource('The page link is not valid; ask for $everything again.');
  }
  return { types: types.filter(readable), since, count, after, used };
}

export function everythingBundle(fhirBase: string, recordId: string, request: EverythingRequest, page: EverythingPage) {
  const link = (cursor?: number) => {
    const params = new URLSearchParams(request.used);
    params.set('_count', String(request.count));
    if (cursor !== undefined) params.set('_cursor', String(cursor));
    return `${fhirBase}/Patient/${recordId}/$everything?${params.toString()}`;
  };
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: page.total,
    link: [{ relation: 'self', url: link(request.after) }, ...(page.nextCursor !== undefined ? [{ relation: 'next', url: link(page.nextCursor) }] : [])],
    ...(page.resources.length
      ? {
          entry: page.resources.map((resource) => ({
            fullUrl: `${fhirBase}/${String(resource.content.resourceType)}/${String(resource.content.id)}`,
            resource: resource.content,
            search: { mode: 'match' },
          })),
        }
      : {}),
  };
}
