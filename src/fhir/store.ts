/**
 * SQL for FHIR resources: the current version of each resource, with the record it belongs to
 * and the values it is searched by. Only the record repository calls this.
 */
import type { Knex } from 'knex';
import type { Database } from '../db';
import type { DateComparison, SearchCriteria } from './search';

export type ResourceRow = {
  type: string;
  id: string;
  record_id: string;
  version_id: number;
  last_updated: Date;
  content: Record<string, unknown>;
  search_date?: Date | null;
  search_tokens?: string[];
};

function applyDate(query: Knex.QueryBuilder, column: string, date: DateComparison): void {
  const { prefix, start, end } = date;
  switch (prefix) {
    case 'eq':
      query.where(column, '>=', start).andWhere(column, '<', end);
      break;
    case 'ne':
      query.where((q) => q.where(column, '<', start).orWhere(column, '>=', end).orWhereNull(column));
      break;
    case 'gt':
    case 'sa':
      query.where(column, '>=', end);
      break;
    case 'lt':
    case 'eb':
      query.where(column, '<', start);
      break;
    case 'ge':
      query.where(column, '>=', start);
      break;
    case 'le':
      query.where(column, '<', end);
      break;
  }
}

export function createResourceStore(db: Database) {
  return {
    async insert(row: ResourceRow): Promise<void> {
      await db.table('resources').insert(row);
    },

    /** Without the search columns: parsing their arrays and dates was a tenth of a read's CPU. */
    async find(recordId: string, type: string, id: string): Promise<ResourceRow | undefined> {
      return db.table('resources').where({ record_id: recordId, type, id }).first('type', 'id', 'record_id', 'version_id', 'last_updated', 'content');
    },

    /** Writes a new version if the stored one is still `expectedVersion`; false when it moved on. */
    async replace(row: ResourceRow, expectedVersion: number): Promise<boolean> {
      const count = await db
        .table('resources')
        .where({ record_id: row.record_id, type: row.type, id: row.id, version_id: expectedVersion })
        .update({
          version_id: row.version_id,
          last_updated: row.last_updated,
          content: row.content,
          search_date: row.search_date ?? null,
          search_tokens: row.search_tokens ?? [],
        });
      return count === 1;
    },

    async delete(recordId: string, type: string, id: string): Promise<boolean> {
      return (await db.table('resources').where({ record_id: recordId, type, id }).delete()) === 1;
    },

    /** The matching resources of one record and type, in creation order, and how many match in all. */
    async search(recordId: string, type: string, criteria: SearchCriteria) {
      const base = db.table('resources').where({ record_id: recordId, type });
      for (const ids of criteria.ids) base.whereIn('id', ids);
      for (const any of criteria.tokens) base.whereRaw('search_tokens && ?::text[]', [any]);
      for (const date of criteria.dates) applyDate(base, 'search_date', date);
      for (const date of criteria.lastUpdated) applyDate(base, 'last_updated', date);
      const [{ total }] = (await base.clone().count<{ total: string }[]>({ total: '*' })) as [{ total: string }];
      const page = base.clone().select('type', 'id', 'version_id', 'last_updated', 'content', 'seq').orderBy('seq', 'asc').limit(criteria.count + 1);
      if (criteria.after !== undefined) page.where('seq', '>', criteria.after);
      const rows = (await page) as (ResourceRow & { seq: string })[];
      return { total: Number(total), rows: rows.slice(0, criteria.count), more: rows.length > criteria.count };
    },

    /** Everything in a record except its Patient, newest first, for the person's record page. */
    async contents(recordId: string, limit: number): Promise<ResourceRow[]> {
      return db.table('resources').where({ record_id: recordId }).whereNot({ type: 'Patient' }).orderBy('last_updated', 'desc').limit(limit);
    },
  };
}

export type ResourceStore = ReturnType<typeof createResourceStore>;
