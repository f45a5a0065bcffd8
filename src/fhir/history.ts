/**
 * A resource's history as a FHIR `history` Bundle, newest version first: each version with the
 * request that made it (POST for the first, PUT for the next ones, DELETE for a deletion, which has
 * no resource) and its ETag. https://hl7.org/fhir/R4/http.html#history · https://hl7.org/fhir/R4/bundle.html
 */
import type { HistoryPage } from './repository';
import { pageCount } from './search';
import { InvalidResource } from './errors';

/** `_count` and `_cursor` (the version below which the page starts) of a history request. */
export function historyPaging(query: Record<string, unknown>): { count: number; before: number | undefined } {
  const one = (value: unknown) => (Array.isArray(value) ? value[0] : value);
  const rawCount = one(query._count);
  const rawCursor = one(query._cursor);
  const count = pageCount(rawCount);
  let before: number | undefined;
  if (rawCursor !== undefined) {
    before = Number(rawCursor);
    // version_id is a 32-bit column: a longer number would fail in PostgreSQL (a 500), not page.
    if (!/^\d{1,9}$/.test(String(rawCursor)) || before < 1) throw new InvalidResource('The page link is not valid; ask for the history again.');
  }
  return { count, before };
}

export function historyBundle(fhirBase: string, page: HistoryPage, self: { type: string; id: string; count: number; before: number | undefined }) {
  const link = (before?: number) => `${fhirBase}/${self.type}/${self.id}/_history?_count=${self.count}${before !== undefined ? `&_cursor=${before}` : ''}`;
  return {
    resourceType: 'Bundle',
    type: 'history',
    total: page.total,
    link: [{ relation: 'self', url: link(self.before) }, ...(page.nextBefore !== undefined ? [{ relation: 'next', url: link(page.nextBefore) }] : [])],
    entry: page.entries.map((entry) => {
      const url = `${entry.type}/${entry.id}`;
      const method = entry.content === undefined ? 'DELETE' : entry.versionId === 1 ? 'POST' : 'PUT';
      return {
        fullUrl: `${fhirBase}/${url}`,
        ...(entry.content !== undefined ? { resource: entry.content } : {}),
        request: { method, url: method === 'POST' ? entry.type : url },
        response: {
          status: method === 'POST' ? '201 Created' : method === 'DELETE' ? '204 No Content' : '200 OK',
          ...(entry.content !== undefined ? { etag: `W/"${entry.versionId}"` } : {}),
          lastModified: entry.lastUpdated.toISOString(),
        },
      };
    }),
  };
}
