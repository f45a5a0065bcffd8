/**
 * A search's answer as a FHIR `searchset` Bundle: the matches (`search.mode: match`), then what
 * `_include`/`_revinclude` brought (`include`), paged with `self` and `next` links that repeat the
 * search's parameters; `_summary=count` gives the total alone; `_elements` trims each match to the
 * elements asked for and the ones its type requires (so each stays valid R4), and marks it
 * SUBSETTED. https://hl7.org/fhir/R4/search.html#summary ·
 * https://hl7.org/fhir/R4/search.html#elements · https://hl7.org/fhir/R4/bundle.html
 */
import type { SearchResult, StoredResource } from './repository';
import { formatCursor, type Cursor, type SearchCriteria } from './search';
import { mandatoryElements } from './validation';

type Json = Record<string, unknown>;

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

/**
 * The resource with only `elements`, what every resource keeps (resourceType, id, meta) and the
 * elements its type requires (R4: servers SHOULD return mandatory elements), marked SUBSETTED.
 */
function subset(resource: Json, elements: readonly string[]): Json {
  const mandatory = mandatoryElements(String(resource.resourceType));
  const keeps = (name: string) =>
    name === 'resourceType' ||
    name === 'id' ||
    name === 'meta' ||
    mandatory.has(name) ||
    elements.some((element) => element === name || (element.endsWith('[x]') && name.startsWith(element.slice(0, -3))));
  const kept: Json = {};
  for (const [key, value] of Object.entries(resource)) {
    // `_status` carries the extensions of `status`: it goes with it.
    if (keeps(key) || (key.startsWith('_') && keeps(key.slice(1)))) kept[key] = value;
  }
  const meta = (resource.meta ?? {}) as Json;
  const tags = Array.isArray(meta.tag) ? meta.tag : [];
  return { ...kept, meta: { ...meta, tag: [...tags, SUBSETTED] } };
}

export function searchsetBundle(fhirBase: string, type: string, criteria: SearchCriteria, result: SearchResult) {
  const link = (cursor?: Cursor) => {
    const params = new URLSearchParams(criteria.used);
    params.set('_count', String(criteria.count));
    if (cursor !== undefined) params.set('_cursor', formatCursor(cursor));
    return `${fhirBase}/${type}?${params.toString()}`;
  };
  const entry = (resource: StoredResource, mode: 'match' | 'include') => ({
    fullUrl: `${fhirBase}/${String(resource.content.resourceType)}/${String(resource.content.id)}`,
    resource: mode === 'match' && criteria.elements ? subset(resource.content, criteria.elements) : resource.content,
    search: { mode },
  });
  const entries = [...result.resources.map((resource) => entry(resource, 'match')), ...result.included.map((resource) => entry(resource, 'include'))];
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: result.total,
    link: [{ relation: 'self', url: link(criteria.after) }, ...(result.nextCursor !== undefined ? [{ relation: 'next', url: link(result.nextCursor) }] : [])],
    ...(entries.length ? { entry: entries } : {}),
  };
}
