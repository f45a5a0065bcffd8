/**
 * SQL for FHIR resources: the current version of each resource, with the record it belongs to
 * and the values it is searched by, and every version each resource had (`resource_versions`,
 * written beside each create, update and delete). Only the record repository calls this.
 */
import type { Knex } from 'knex';
import { statement, type Database } from '../db';
import { AUDIT_INSERT, eventValues, type RecordEvent } from '../audit/store';
import type { DateComparison, SearchCriteria, SearchSort } from './search';

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

/** One version of a resource as history keeps it; a deletion has no content. */
export type VersionRow = { type: string; id: string; version_id: number; last_updated: Date; content: Record<string, unknown> | null; deleted: boolean };

function versionOf(row: ResourceRow) {
  return { record_id: row.record_id, type: row.type, id: row.id, version_id: row.version_id, last_updated: row.last_updated, content: row.content, deleted: false };
}

/** The sort key in whole milliseconds (a resource with no date sorts first), so a cursor can carry it exactly. */
function sortKey(sort: SearchSort): string {
  const column = sort.by === 'date' ? "coalesce(search_date, '0001-01-01T00:00:00Z'::timestamptz)" : 'last_updated';
  return `floor(extract(epoch from ${column}) * 1000)::bigint`;
}

/** Without the search columns: parsing their arrays and dates was a tenth of a read's CPU. */
const READ_COLUMNS = 'type, id, record_id, version_id, last_updated, content';

/**
 * A read by id, and the audit line it is owed (the row audit/store.ts appends) when it finds the
 * resource: one round trip instead of two for the most frequent request of all (issue 14).
 */
const FIND_AUDITED = statement(
  `with found as (select ${READ_COLUMNS} from resources where record_id = $1 and type = $2 and id = $3),
   logged as (${AUDIT_INSERT} select $1, $4, $5, $6, $7 from found)
   select ${READ_COLUMNS} from found`,
);

/**
 * A new resource, its first history row and the audit line of its creation in one statement — one
 * round trip, and as atomic as the transaction of three it replaces (issue 14).
 */
const INSERT_AUDITED = statement(
  `with created as (
     insert into resources (type, id, record_id, version_id, last_updated, content, search_date, search_tokens) values ($1, $2, $3, $4, $5, $6, $7, $8)
     returning record_id, type, id, version_id, last_updated, content),
   versioned as (insert into resource_versions (record_id, type, id, version_id, last_updated, content) select record_id, type, id, version_id, last_updated, content from created),
   logged as (${AUDIT_INSERT} select record_id, $9, $10, $11, $12 from created)
   select id from created`,
);

export function createResourceStore(db: Database) {
  return {
    /** Call inside a transaction: the current row and its first history row go together. */
    async insert(row: ResourceRow): Promise<void> {
      await db.table('resources').insert(row);
      await db.table('resource_versions').insert(versionOf(row));
    },

    /** `insert`, appending `event` (about the row's record) in the same statement; needs no transaction. */
    async insertAudited(row: ResourceRow, event: RecordEvent): Promise<void> {
      await db.query(INSERT_AUDITED, [
        row.type, row.id, row.record_id, row.version_id, row.last_updated, row.content, row.search_date ?? null, row.search_tokens ?? [],
        ...eventValues(event),
      ]);
    },

    async find(recordId: string, type: string, id: string): Promise<ResourceRow | undefined> {
      return db.table('resources').where({ record_id: recordId, type, id }).first(db.raw(READ_COLUMNS));
    },

    /** `find`, appending `event` (about this record) in the same statement when the resource is there. */
    async findAudited(recordId: string, type: string, id: string, event: RecordEvent): Promise<ResourceRow | undefined> {
      const [row] = await db.query<ResourceRow>(FIND_AUDITED, [recordId, type, id, ...eventValues(event)]);
      return row;
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
      if (count === 1) await db.table('resource_versions').insert(versionOf(row));
      return count === 1;
    },

    /** Call inside a transaction: removes the current row and records the deletion as a version. */
    async delete(recordId: string, type: string, id: string, at: Date): Promise<boolean> {
      const [removed] = (await db.table('resources').where({ record_id: recordId, type, id }).delete().returning(['version_id'])) as { version_id: number }[];
      if (!removed) return false;
      await db.table('resource_versions').insert({ record_id: recordId, type, id, version_id: removed.version_id + 1, last_updated: at, content: null, deleted: true });
      return true;
    },

    /** One version of a resource of the record (a deletion included). */
    async version(recordId: string, type: string, id: string, versionId: number): Promise<VersionRow | undefined> {
      return db.table('resource_versions').where({ record_id: recordId, type, id, version_id: versionId }).first('type', 'id', 'version_id', 'last_updated', 'content', 'deleted');
    },

    /** The newest version of a resource of the record, to tell a deleted one from one never there. */
    async latestVersion(recordId: string, type: string, id: string): Promise<VersionRow | undefined> {
      return db
        .table('resource_versions')
        .where({ record_id: recordId, type, id })
        .orderBy('version_id', 'desc')
        .first('type', 'id', 'version_id', 'last_updated', 'content', 'deleted');
    },

    /** Versions of a resource, newest first: `count` of them below `before` (a version id), and how many in all. */
    async history(recordId: string, type: string, id: string, count: number, before: number | undefined) {
      const base = db.table('resource_versions').where({ record_id: recordId, type, id });
      const [{ total }] = (await base.clone().count<{ total: string }[]>({ total: '*' })) as [{ total: string }];
      const page = base.clone().select('type', 'id', 'version_id', 'last_updated', 'content', 'deleted').orderBy('version_id', 'desc').limit(count + 1);
      if (before !== undefined) page.where('version_id', '<', before);
      const rows = (await page) as VersionRow[];
      return { total: Number(total), rows: rows.slice(0, count), more: rows.length > count };
    },

    /**
     * The matching resources of one record and type, a page at a time in the search's order (by its
     * sort key, then creation order), and how many match in all. Each row carries `seq` and, when
     * sorted, `sort_key` (ms), from which the next page's cursor is made.
     */
    async search(recordId: string, type: string, criteria: SearchCriteria, event?: RecordEvent) {
      const base = db.table('resources').where({ record_id: recordId, type });
      for (const ids of criteria.ids) base.whereIn('id', ids);
      for (const any of criteria.tokens) base.whereRaw('search_tokens && ?::text[]', [any]);
      for (const date of criteria.dates) applyDate(base, 'search_date', date);
      for (const date of criteria.lastUpdated) applyDate(base, 'last_updated', date);
      const counted = base.clone().count<{ total: string }[]>({ total: '*' });
      const page = base.clone().select('type', 'id', 'version_id', 'last_updated', 'content', 'seq').limit(criteria.count + 1);
      const key = criteria.sort ? sortKey(criteria.sort) : undefined;
      let order = 'page.seq asc';
      if (key && criteria.sort) {
        const direction = criteria.sort.descending ? 'desc' : 'asc';
        page.select(db.raw(`${key} as sort_key`)).orderByRaw(`${key} ${direction}, seq ${direction}`);
        if (criteria.after) page.whereRaw(`(${key}, seq) ${criteria.sort.descending ? '<' : '>'} (?, ?)`, [criteria.after.key ?? 0, criteria.after.seq]);
        order = `page.sort_key ${direction}, page.seq ${direction}`;
      } else {
        page.orderBy('seq', 'asc');
        if (criteria.after) page.where('seq', '>', criteria.after.seq);
      }
      // One round trip: the count, the audit line (the row audit/store.ts appends, its count the
      // total) and the page, whose rows come with the total (one row of nulls when it is empty).
      const logged = event
        ? db.raw(`${AUDIT_INSERT} select ?, ?, ?, ?, ?::jsonb || jsonb_build_object('count', total) from counted`, [recordId, ...(eventValues(event) as Knex.RawBinding[])])
        : undefined;
      const { rows: found } = (await db.raw(
        `with counted as (?)${logged ? ', logged as (?)' : ''}
         select counted.total, page.* from counted left join lateral (?) page on ${criteria.countOnly ? 'false' : 'true'} order by ${order}`,
        [counted, ...(logged ? [logged] : []), page],
      )) as { rows: (ResourceRow & { total: string; seq: string | null; sort_key?: string })[] };
      const total = Number(found[0]?.total ?? 0);
      const rows = found.filter((row) => row.seq !== null);
      return { total, rows: rows.slice(0, criteria.count), more: rows.length > criteria.count };
    },

    /** The resources of the record among `references` (`Type/id`), for `_include`: never another record's. */
    async findMany(recordId: string, references: readonly { type: string; id: string }[]): Promise<ResourceRow[]> {
      if (references.length === 0) return [];
      return db
        .table('resources')
        .where({ record_id: recordId })
        .whereIn(['type', 'id'], references.map(({ type, id }) => [type, id]))
        .select('type', 'id', 'version_id', 'last_updated', 'content');
    },

    /**
     * Resources of `type` in the record that hold any of `tokens` (reference tokens such as
     * `result:Observation/123`), or every one of that type when `tokens` is `all`; at most `limit`.
     */
    async referring(recordId: string, type: string, tokens: readonly string[] | 'all', limit: number): Promise<ResourceRow[]> {
      const query = db.table('resources').where({ record_id: recordId, type }).select('type', 'id', 'version_id', 'last_updated', 'content').orderBy('seq', 'asc').limit(limit);
      if (tokens !== 'all') {
        if (tokens.length === 0) return [];
        query.whereRaw('search_tokens && ?::text[]', [[...tokens]]);
      }
      return query;
    },

    /** The record's resources of `types` changed since `since`, a page at a time in creation order ($everything). */
    async everything(recordId: string, types: readonly string[], since: Date | undefined, count: number, after: number | undefined) {
      const base = db.table('resources').where({ record_id: recordId }).whereIn('type', [...types]);
      if (since) base.where('last_updated', '>=', since);
      const [{ total }] = (await base.clone().count<{ total: string }[]>({ total: '*' })) as [{ total: string }];
      const page = base.clone().select('type', 'id', 'version_id', 'last_updated', 'content', 'seq').orderBy('seq', 'asc').limit(count + 1);
      if (after !== undefined) page.where('seq', '>', after);
      const rows = (await page) as (ResourceRow & { seq: string })[];
      return { total: Number(total), rows: rows.slice(0, count), more: rows.length > count };
    },

    /** Everything in a record except its Patient, newest first, for the person's record page. */
    async contents(recordId: string, limit: number): Promise<ResourceRow[]> {
      return db.table('resources').where({ record_id: recordId }).whereNot({ type: 'Patient' }).orderBy('last_updated', 'desc').limit(limit);
    },
  };
}

export type ResourceStore = ReturnType<typeof createResourceStore>;
