/**
 * SQL for FHIR resources: the current version of each resource, with the record it belongs to
 * and the values it is searched by, and every version each resource had (`resource_versions`,
 * written beside each create, update and delete). Only the record repository calls this.
 *
 * Every read or write the record's history shows takes the event it owes (`event`), and appends
 * it in the statement that does the work (audit/store.ts `audited`): one round trip, and the line
 * is there exactly when the work was done. Without an event (the caller audits its whole
 * operation once) the same statement runs without it. An app's read, search or create also reads
 * its token's liveness in that statement (`TokenLiveness`, oidc/store.ts `livenessStep`): its data
 * steps act only while the token is live, and it answers whether it was, so the request is one
 * round trip and a token that ended reads and writes nothing.
 */
import type { Knex } from 'knex';
import { statement, type Database, type Statement } from '../db';
import { audited, eventValues, type RecordEvent, type Steps } from '../audit/store';
import { livenessStep, livenessValues, type TokenLiveness } from '../oidc/store';
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
      query.where((q) => {
        q.where(column, '<', start).orWhere(column, '>=', end).orWhereNull(column);
      });
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

/** The sort key in whole milliseconds (a resource with no date sorts first), so a cursor can carry it exactly. */
function sortKey(sort: SearchSort): string {
  const column = sort.by === 'date' ? "coalesce(search_date, '0001-01-01T00:00:00Z'::timestamptz)" : 'last_updated';
  return `floor(extract(epoch from ${column}) * 1000)::bigint`;
}

/** Without the search columns: parsing their arrays and dates was a tenth of a read's CPU. */
const READ_COLUMNS = 'type, id, record_id, version_id, last_updated, content';
const VERSION_COLUMNS = 'type, id, version_id, last_updated, content, deleted';

/** The statement of `data` without an audit line. */
function unaudited(data: Steps): string {
  return `with ${data.steps.join(',\n   ')}\n   ${data.result}`;
}

/** The condition under which a statement that reads a token's liveness acts: the step `live` found it live. */
const LIVE = '(select live from live)';

/**
 * `data` acting only while the token is live: the step `live` (its parameters from `$<first>` on,
 * or `?` bindings ahead of the steps' own), and a result of at least one row that says whether it
 * was (`live`), beside the data's rows, or beside nulls when there were none.
 */
function whileLive(data: Steps, first: number | '?'): Steps {
  return { steps: [livenessStep(first), ...data.steps], result: `select live.live, result.* from live left join (${data.result}) result on true` };
}

/**
 * A statement in its forms: without its audit line, with it (the event's parameters after the
 * statement's own), and, when `data` is given the condition its steps act under, with it and
 * reading a token's liveness (the liveness's parameters after the event's).
 */
type Forms = { plain: Statement; audited: Statement; live: Statement | undefined };

function forms(data: Steps | ((live: string) => Steps), line: { for: string; event: number }): Forms {
  const acting = typeof data === 'function' ? data('true') : data;
  const live = typeof data === 'function' ? statement(audited(whileLive(data(LIVE), line.event + 5), line)) : undefined;
  return { plain: statement(unaudited(acting)), audited: statement(audited(acting, line)), live };
}

/** A read by id, audited when it finds the resource: the most frequent request of all, one round trip. */
const FIND = forms(
  (live) => ({
    steps: [`found as (select ${READ_COLUMNS} from resources where record_id = $1 and type = $2 and id = $3 and ${live})`],
    result: `select ${READ_COLUMNS} from found`,
  }),
  { for: 'found', event: 4 },
);

/** One version by number, audited when it is there and is not the deletion. */
const VERSION = forms(
  {
    steps: [
      `found as (select ${VERSION_COLUMNS} from resource_versions where record_id = $1 and type = $2 and id = $3 and version_id = $4)`,
      'shown as (select 1 from found where not deleted and content is not null)',
    ],
    result: `select ${VERSION_COLUMNS} from found`,
  },
  { for: 'shown', event: 5 },
);

/** The step that keeps the row a step `written` returned (inserted or updated) as a history row of its own. */
function versionOf(written: string): string {
  return `versioned as (
       insert into resource_versions (record_id, type, id, version_id, last_updated, content)
       select record_id, type, id, version_id, last_updated, content from ${written})`;
}

/** A new resource and its first history row: one statement, as atomic as a transaction of the two. */
const INSERT = forms(
  (live) => ({
    steps: [
      `created as (
       insert into resources (record_id, type, id, version_id, last_updated, content, search_date, search_tokens)
       select $1, $2, $3, $4, $5, $6, $7, $8 where ${live}
       returning record_id, type, id, version_id, last_updated, content)`,
      versionOf('created'),
    ],
    result: 'select id from created',
  }),
  { for: 'created', event: 9 },
);

/** A new version while the stored one is still version $9, and its history row; no row when it moved on. */
const REPLACE = forms(
  {
    steps: [
      `changed as (
       update resources set version_id = $4, last_updated = $5, content = $6, search_date = $7, search_tokens = $8
       where record_id = $1 and type = $2 and id = $3 and version_id = $9
       returning record_id, type, id, version_id, last_updated, content)`,
      versionOf('changed'),
    ],
    result: 'select id from changed',
  },
  { for: 'changed', event: 10 },
);

/** Removes the current row and records the deletion as a version of its own; no row when there was none. */
const DELETE = forms(
  {
    steps: [
      'removed as (delete from resources where record_id = $1 and type = $2 and id = $3 returning record_id, type, id, version_id)',
      `versioned as (
       insert into resource_versions (record_id, type, id, version_id, last_updated, content, deleted)
       select record_id, type, id, version_id + 1, $4::timestamptz, null, true from removed)`,
    ],
    result: 'select id from removed',
  },
  { for: 'removed', event: 5 },
);

/** A row's values in INSERT's and REPLACE's order. */
function rowValues(row: ResourceRow): unknown[] {
  return [row.record_id, row.type, row.id, row.version_id, row.last_updated, row.content, row.search_date ?? null, row.search_tokens ?? []];
}

/** A page's rows, each beside the total they are out of; one row of nulls but the total when the page is empty. */
type PageRows<Row> = { rows: (Row & { total: string; id: string | null })[] };

export function createResourceStore(db: Database) {
  /** `statement` with `values`, audited when there is an event. */
  const run = <Row>(statement: Forms, values: unknown[], event: RecordEvent | undefined): Promise<Row[]> =>
    event ? db.query<Row>(statement.audited, [...values, ...eventValues(event)]) : db.query<Row>(statement.plain, values);

  /** `statement` with `values` and `event`, acting only while the token is live: whether it was, and the rows. */
  const runWhileLive = async <Row extends { id: string }>(statement: Forms, values: unknown[], event: RecordEvent, liveness: TokenLiveness) => {
    if (!statement.live) throw new Error('this statement does not read a token’s liveness');
    const rows = await db.query<Row & { live: boolean }>(statement.live, [...values, ...eventValues(event), ...livenessValues(liveness)]);
    return { live: rows[0]?.live === true, rows: rows.filter((row) => row.id !== null) };
  };

  /**
   * A page and the total it is out of, in one statement (steps `counted`, one row with `total`,
   * and `page`), with its audit line when there is an event: one for each row of the step
   * `line.for` (`counted`, or one of `line.steps`, whose placeholders `line.bindings` fill),
   * counting `line.count`. With `countOnly`, no rows but the total.
   */
  const countedPage = async <Row>(
    counted: Knex.QueryBuilder,
    page: Knex.QueryBuilder,
    options: {
      order: string;
      countOnly?: boolean;
      event: RecordEvent | undefined;
      line: { steps?: string[]; bindings?: Knex.RawBinding[]; for: string; count: string };
      /** The token whose liveness the statement reads: `counted` and `page` then act only while it is live (their `live` condition). */
      liveness?: TokenLiveness | undefined;
    },
  ) => {
    const { event, line, liveness } = options;
    // Reading liveness, `counted` still has its one row: it says whether the token was live.
    const data: Steps = {
      steps: [...(liveness ? [livenessStep('?')] : []), 'counted as (?)', 'page as (?)', ...(event ? (line.steps ?? []) : [])],
      result: `select ${liveness ? 'live.live, ' : ''}counted.total, page.* from ${liveness ? 'live cross join ' : ''}counted
       left join page on ${options.countOnly ? 'false' : 'true'} order by ${options.order}`,
    };
    const sql = event ? audited(data, { for: line.for, event: '?', count: line.count, ...(liveness ? { when: LIVE } : {}) }) : unaudited(data);
    const bindings: Knex.RawBinding[] = [
      ...(liveness ? (livenessValues(liveness) as Knex.RawBinding[]) : []),
      counted,
      page,
      ...(event ? [...(line.bindings ?? []), ...(eventValues(event) as Knex.RawBinding[])] : []),
    ];
    const { rows } = (await db.raw(sql, bindings)) as PageRows<Row & { live?: boolean }>;
    return { live: !liveness || rows[0]?.live === true, total: Number(rows[0]?.total ?? 0), rows: rows.filter((row) => row.id !== null) };
  };

  return {
    /** A new resource and its first history row, with `event` appended when given; needs no transaction. */
    async insert(row: ResourceRow, event?: RecordEvent): Promise<void> {
      await run(INSERT, rowValues(row), event);
    },

    /** `insert`, only while the token is live (see `TokenLiveness`): whether it was. */
    async insertWhileLive(row: ResourceRow, event: RecordEvent, liveness: TokenLiveness): Promise<boolean> {
      return (await runWhileLive(INSERT, rowValues(row), event, liveness)).live;
    },

    /** Deletes every resource of a record and every version of each (the record is being erased). */
    async eraseRecord(recordId: string): Promise<void> {
      await db.table('resource_versions').where({ record_id: recordId }).delete();
      await db.table('resources').where({ record_id: recordId }).delete();
    },

    /** The current version; `event` is appended when it is found. */
    async find(recordId: string, type: string, id: string, event?: RecordEvent): Promise<ResourceRow | undefined> {
      const [row] = await run<ResourceRow>(FIND, [recordId, type, id], event);
      return row;
    },

    /** `find`, only while the token is live (see `TokenLiveness`): whether it was, and the current version. */
    async findWhileLive(recordId: string, type: string, id: string, event: RecordEvent, liveness: TokenLiveness) {
      const { live, rows } = await runWhileLive<ResourceRow>(FIND, [recordId, type, id], event, liveness);
      return { live, row: rows[0] };
    },

    /** Writes a new version (and `event`) if the stored one is still `expectedVersion`; false when it moved on. */
    async replace(row: ResourceRow, expectedVersion: number, event?: RecordEvent): Promise<boolean> {
      return (await run(REPLACE, [...rowValues(row), expectedVersion], event)).length === 1;
    },

    /** Removes the current row and records the deletion as a version (and `event`); false when there was none. */
    async delete(recordId: string, type: string, id: string, at: Date, event?: RecordEvent): Promise<boolean> {
      return (await run(DELETE, [recordId, type, id, at], event)).length === 1;
    },

    /** One version of a resource of the record (a deletion included); `event` is appended when it is not the deletion. */
    async version(recordId: string, type: string, id: string, versionId: number, event?: RecordEvent): Promise<VersionRow | undefined> {
      const [row] = await run<VersionRow>(VERSION, [recordId, type, id, versionId], event);
      return row;
    },

    /** The newest version of a resource of the record, to tell a deleted one from one never there. */
    async latestVersion(recordId: string, type: string, id: string): Promise<VersionRow | undefined> {
      return db
        .table('resource_versions')
        .where({ record_id: recordId, type, id })
        .orderBy('version_id', 'desc')
        .first('type', 'id', 'version_id', 'last_updated', 'content', 'deleted');
    },

    /**
     * Versions of a resource, newest first: `count` of them below `before` (a version id), and how
     * many in all; `event` is appended, counting the versions shown, when the resource has any.
     */
    async history(recordId: string, type: string, id: string, count: number, before: number | undefined, event?: RecordEvent) {
      const base = db.table('resource_versions').where({ record_id: recordId, type, id });
      const page = base
        .clone()
        .select('type', 'id', 'version_id', 'last_updated', 'content', 'deleted')
        .orderBy('version_id', 'desc')
        .limit(count + 1);
      if (before !== undefined) page.where('version_id', '<', before);
      const found = await countedPage<VersionRow>(base.clone().count({ total: '*' }), page, {
        order: 'page.version_id desc',
        event,
        line: {
          steps: ['shown as (select least((select count(*) from page), ?::int) as shown from counted where counted.total > 0)'],
          bindings: [count],
          for: 'shown',
          count: 'shown.shown',
        },
      });
      return { total: found.total, rows: found.rows.slice(0, count), more: found.rows.length > count };
    },

    /**
     * The matching resources of one record and type, a page at a time in the search's order (by its
     * sort key, then creation order), and how many match in all; `event` is appended with that
     * total as its count. With `liveness`, only while the token is live (`live` says whether it was). Each row carries `seq` and, when sorted, `sort_key` (ms), from which the
     * next page's cursor is made.
     */
    async search(recordId: string, type: string, criteria: SearchCriteria, event?: RecordEvent, liveness?: TokenLiveness) {
      const base = db.table('resources').where({ record_id: recordId, type });
      if (liveness) base.whereRaw(LIVE);
      for (const ids of criteria.ids) base.whereIn('id', ids);
      for (const any of criteria.tokens) base.whereRaw('search_tokens && ?::text[]', [any]);
      for (const date of criteria.dates) applyDate(base, 'search_date', date);
      for (const date of criteria.lastUpdated) applyDate(base, 'last_updated', date);
      const page = base
        .clone()
        .select('type', 'id', 'version_id', 'last_updated', 'content', 'seq')
        .limit(criteria.count + 1);
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
      const found = await countedPage<ResourceRow & { seq: string; sort_key?: string }>(base.clone().count({ total: '*' }), page, {
        order,
        countOnly: criteria.countOnly,
        event,
        line: { for: 'counted', count: 'counted.total' },
        liveness,
      });
      return { live: found.live, total: found.total, rows: found.rows.slice(0, criteria.count), more: found.rows.length > criteria.count };
    },

    /** The resources of the record among `references` (`Type/id`), for `_include`: never another record's. */
    async findMany(recordId: string, references: readonly { type: string; id: string }[]): Promise<ResourceRow[]> {
      if (references.length === 0) return [];
      return db
        .table('resources')
        .where({ record_id: recordId })
        .whereIn(
          ['type', 'id'],
          references.map(({ type, id }) => [type, id]),
        )
        .select('type', 'id', 'version_id', 'last_updated', 'content');
    },

    /**
     * Resources of `type` in the record that hold any of `tokens` (reference tokens such as
     * `result:Observation/123`), or every one of that type when `tokens` is `all`; at most `limit`.
     */
    async referring(recordId: string, type: string, tokens: readonly string[] | 'all', limit: number): Promise<ResourceRow[]> {
      const query = db
        .table('resources')
        .where({ record_id: recordId, type })
        .select('type', 'id', 'version_id', 'last_updated', 'content')
        .orderBy('seq', 'asc')
        .limit(limit);
      if (tokens !== 'all') {
        if (tokens.length === 0) return [];
        query.whereRaw('search_tokens && ?::text[]', [[...tokens]]);
      }
      return query;
    },

    /**
     * The record's resources of `types` changed since `since`, a page at a time in creation order
     * ($everything); `event` is appended with how many there are in all as its count.
     */
    async everything(recordId: string, types: readonly string[], since: Date | undefined, count: number, after: number | undefined, event?: RecordEvent) {
      const base = db
        .table('resources')
        .where({ record_id: recordId })
        .whereIn('type', [...types]);
      if (since) base.where('last_updated', '>=', since);
      const page = base
        .clone()
        .select('type', 'id', 'version_id', 'last_updated', 'content', 'seq')
        .orderBy('seq', 'asc')
        .limit(count + 1);
      if (after !== undefined) page.where('seq', '>', after);
      const found = await countedPage<ResourceRow & { seq: string }>(base.clone().count({ total: '*' }), page, {
        order: 'page.seq asc',
        event,
        line: { for: 'counted', count: 'counted.total' },
      });
      return { total: found.total, rows: found.rows.slice(0, count), more: found.rows.length > count };
    },

    /** Everything in a record except its Patient, newest first, for the person's record page. */
    async contents(recordId: string, limit: number): Promise<ResourceRow[]> {
      return db.table('resources').where({ record_id: recordId }).whereNot({ type: 'Patient' }).orderBy('last_updated', 'desc').limit(limit);
    },
  };
}
