/**
 * The observations a record page charts, read through the record repository's search (paged by
 * its cursor), on the person's behalf and not audited — like the rest of the record page.
 */
import type { RecordRepository } from '../fhir/repository';
import { emptyCriteria, type Cursor } from '../fhir/search';
import { chartsOf, type Chart } from './charts';

const PAGE = 500;
/** Enough for years of daily readings; a record past it is charted from its newest ones (by date). */
const MOST = 5000;

export async function chartsForRecord(repository: RecordRepository): Promise<Chart[]> {
  const observations: Record<string, unknown>[] = [];
  let after: Cursor | undefined;
  do {
    const page = await repository.search('Observation', { ...emptyCriteria(), count: PAGE, after, sort: { by: 'date', descending: true } });
    observations.push(...page.resources.map((resource) => resource.content));
    after = page.nextCursor;
  } while (after !== undefined && observations.length < MOST);
  return chartsOf(observations);
}
