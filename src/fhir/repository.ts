/**
 * The record-scoped repository: read, create, update, delete and search FHIR resources within one
 * record, on behalf of a named actor (an app through its token, or a person through carevault's own
 * pages: a pickup, a filed attachment, a new record). Every write is accepted (acceptance.ts: FHIR
 * R4, bound to the record's Patient), indexed for search and versioned, and every read and write
 * is audited in the statement that does it (store.ts). It needs no token: whoever calls it has
 * already decided that the actor may reach this record — but for an app whose token's liveness is
 * still to be read (api/liveness.ts), the read, search or create reads it in its own statement,
 * and every other method reads it first. A Bundle accepts its resources (`check`)
 * before its transaction opens, so the transaction holds the database only for the writes.
 * https://hl7.org/fhir/R4/http.html
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../accounts/person';
import type { RecordLiveness } from '../api/liveness';
import type { RecordEvent } from '../audit/store';
import type { Database } from '../db';
import type { TokenLiveness } from '../oidc/store';
import { CATALOGUE, type RecordType } from '../rules/catalogue';
import { acceptResource, asStored } from './acceptance';
import { MultipleMatches, NotSupported, ResourceDeleted, ResourceNotFound, VersionConflict } from './errors';
import { indexResource, referencesAt } from './indexing';
import { referenceParamsOf, type Cursor, type SearchCriteria } from './search';
import { createResourceStore, type ResourceRow, type VersionRow } from './store';
import { summarize } from './summary';

type Json = Record<string, unknown>;

export type StoredResource = { content: Json; versionId: number; lastUpdated: Date };

/** One version in a resource's history; a deletion has no content. */
type HistoryEntry = { type: string; id: string; versionId: number; lastUpdated: Date; content: Json | undefined };

export type HistoryPage = { total: number; entries: HistoryEntry[]; nextBefore: number | undefined };

/** A page of matches, the resources `_include`/`_revinclude` brought along, and where the next page starts. */
export type SearchResult = { total: number; resources: StoredResource[]; included: StoredResource[]; nextCursor: Cursor | undefined };

export type EverythingPage = { total: number; resources: StoredResource[]; nextCursor: number | undefined };

/** At most this many included resources per page, so one search cannot pull a whole record at once. */
const MAX_INCLUDED = 500;

/** What a conditional create did: made the resource, or found the one resource matching its condition. */
type ConditionalCreation = { created: boolean; resource: StoredResource };

type RecordContents = { type: string; items: { id: string; summary: string; lastUpdated: Date }[] }[];

export type RecordRepository = {
  /** The current version; a deleted resource is 410 (ResourceDeleted), one never there 404. */
  read(type: RecordType, id: string): Promise<StoredResource>;
  /** One version (vread); the version that deleted the resource is 410. */
  readVersion(type: RecordType, id: string, versionId: number): Promise<StoredResource>;
  /** The resource's versions, newest first, `count` at a time below version `before`. */
  history(type: RecordType, id: string, page: { count: number; before?: number }): Promise<HistoryPage>;
  /**
   * A record's Patient takes the record's id; every other resource a new one, or `options.id` when
   * carevault itself chose it (a pickup keeps references between the resources it writes).
   */
  create(type: RecordType, body: unknown, options?: { id?: string }): Promise<StoredResource>;
  /**
   * Conditional create (http.html#ccreate): the one resource of `type` matching `criteria` if there
   * is one, else `body` created; more than one match is 412. Conditional creates of a type in a
   * record take turns, so two at once never both create.
   */
  createIfNoneExist(type: RecordType, body: unknown, criteria: SearchCriteria, options?: { id?: string }): Promise<ConditionalCreation>;
  /** The one resource of `type` matching a conditional create's `criteria`, if any (more is 412); not audited, writes nothing. */
  conditionalMatch(type: RecordType, criteria: SearchCriteria): Promise<StoredResource | undefined>;
  /**
   * `body` accepted (acceptance.ts) for this record ahead of its write — for an update, with `id`;
   * `rewrite` applied once its text is known to be storable — and frozen: `create` and `update`
   * then write it without checking it again.
   */
  check(type: RecordType, body: unknown, options?: { id?: string; rewrite?: (resource: Json) => Json }): Json;
  /** `ifMatch` is the version the caller last saw (HTTP If-Match). */
  update(type: RecordType, id: string, body: unknown, ifMatch?: number): Promise<StoredResource>;
  remove(type: RecordType, id: string): Promise<void>;
  /** `readable` says which types `_include` and `_revinclude` may bring (the token's read scopes). */
  search(type: RecordType, criteria: SearchCriteria, readable?: (type: RecordType) => boolean): Promise<SearchResult>;
  /**
   * `Patient/$everything`: the record's resources of `types` (changed since `since`), a page at a
   * time in the order they were added, the Patient first.
   */
  everything(types: readonly RecordType[], page: { since?: Date; count: number; after?: number }): Promise<EverythingPage>;
  /** What the record holds, by type, newest first (the person's record page; not audited). */
  contents(limit?: number): Promise<RecordContents>;
};

function toStored(row: Pick<ResourceRow, 'content' | 'version_id' | 'last_updated'>): StoredResource {
  return { content: row.content, versionId: row.version_id, lastUpdated: row.last_updated };
}

function historyEntry(row: VersionRow): HistoryEntry {
  return {
    type: row.type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: row.last_updated,
    content: row.deleted || !row.content ? undefined : row.content,
  };
}

function rowOf(recordId: string, type: RecordType, id: string, versionId: number, lastUpdated: Date, content: Json): ResourceRow {
  const { searchDate, searchTokens } = indexResource(content);
  return {
    type,
    id,
    record_id: recordId,
    version_id: versionId,
    last_updated: lastUpdated,
    content,
    search_date: searchDate ?? null,
    search_tokens: searchTokens,
  };
}

/** What a resource `check` accepted carries, unseen (not enumerable, never serialized): the record and type it was accepted for (`<recordId>/<type>`). */
const ACCEPTED_FOR = Symbol('accepted for');

/** Freezes `value` and everything in it, so what was checked is what gets written. */
function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item && typeof item === 'object' && !Object.isFrozen(item)) {
      Object.freeze(item);
      stack.push(...Object.values(item));
    }
  }
  return value;
}

/** The methods that read a token's liveness themselves (in their statement), and `check`, which reads nothing. */
const CARRY_LIVENESS: ReadonlySet<keyof RecordRepository> = new Set(['read', 'search', 'create', 'check']);

/** `fhirBase`: this server's FHIR base URL, so a resource may name its patient by full URL too. */
export function createRecordRepositories(db: Database, options: { fhirBase?: string } = {}) {
  const store = createResourceStore(db);
  const { fhirBase } = options;

  return {
    /** Runs `fn` in one database transaction: every repository write inside joins it (a transaction Bundle, an import). */
    atomically<T>(fn: () => Promise<T>): Promise<T> {
      return db.transaction(fn);
    },

    /** Erases a record's resources with all their versions, in the current transaction; no event (the record goes too). */
    erase(recordId: string): Promise<void> {
      return store.eraseRecord(recordId);
    },

    /**
     * The repository of one record for `actor`. With `audited: false` the caller appends one event
     * for its whole operation (opening a record, a pickup) instead of one per write. With
     * `liveness`, the actor's token is refused (and nothing read or written) unless it is live.
     */
    forRecord(recordId: string, actor: Actor, options: { audited?: boolean; liveness?: RecordLiveness | undefined } = {}): RecordRepository {
      const audited = options.audited ?? true;
      const { liveness } = options;
      /**
       * The work of one audited statement, reading the token's liveness too when nothing has read it
       * yet (`live`), else after it was read (`alone`); unaudited, liveness is read on its own first.
       */
      const whileLive = async <T>(
        event: RecordEvent | undefined,
        live: (event: RecordEvent, values: TokenLiveness) => Promise<{ live: boolean; result: T }>,
        alone: () => Promise<T>,
      ): Promise<T> => {
        if (!liveness) return alone();
        if (!event) {
          await liveness.settle();
          return alone();
        }
        return liveness.carriedBy(async (values) => (values ? live(event, values) : { live: true, result: await alone() }));
      };
      /**
       * The one way this repository audits: the event each read or write owes, handed to the store,
       * which appends it in the statement that does the work (audit/store.ts `audited`); the store
       * counts what a search, a history or $everything found. None when the caller audits its
       * whole operation.
       */
      const lineFor = (kind: string, type: RecordType): RecordEvent | undefined =>
        audited
          ? {
              recordId,
              kind,
              ...(actor.kind === 'app' ? { clientId: actor.clientId } : { personId: actor.personId }),
              details: { type, count: 1, ...(actor.kind === 'person' ? { person_name: actor.name } : {}) },
            }
          : undefined;
      /** `body` accepted for this record (acceptance.ts), or as `check` accepted it already. */
      const accepted = (type: RecordType, body: unknown, id?: string): Json =>
        isChecked(body, type) ? body : acceptResource(body, { type, id, record: { id: recordId, fhirBase } });

      /** What `_include` and `_revinclude` bring along: only from this record, only readable types, no match twice. */
      const inclusions = async (type: RecordType, criteria: SearchCriteria, matches: StoredResource[], readable: (type: RecordType) => boolean) => {
        const seen = new Set(matches.map((match) => `${type}/${String(match.content.id)}`));
        const found: StoredResource[] = [];
        const keep = (rows: ResourceRow[]) => {
          for (const row of rows) {
            const key = `${row.type}/${row.id}`;
            if (seen.has(key) || found.length >= MAX_INCLUDED) continue;
            seen.add(key);
            found.push(toStored(row));
          }
        };
        if (matches.length === 0) return found;
        // Never read more than the page may still bring: a match can hold thousands of references.
        for (const { source, param, target } of criteria.includes) {
          if (found.length >= MAX_INCLUDED) break;
          if (!readable(target)) continue;
          const path = CATALOGUE[source].patientParams.includes(param) ? CATALOGUE[source].patientElement : CATALOGUE[source].references?.[param]?.path;
          if (!path) continue;
          const wanted = new Set(
            matches.flatMap((match) => referencesAt(match.content, path)).filter((reference) => reference.startsWith(`${target}/`) && !seen.has(reference)),
          );
          const references = [...wanted].slice(0, MAX_INCLUDED - found.length).map((reference) => ({ type: target, id: reference.slice(target.length + 1) }));
          keep(await store.findMany(recordId, references));
        }
        for (const { source, param, target } of criteria.revincludes) {
          if (found.length >= MAX_INCLUDED) break;
          if (!readable(source) || !referenceParamsOf(source).has(param)) continue;
          // Every resource with a patient element names this record's Patient (bindToRecord).
          const tokens =
            target === 'Patient' && CATALOGUE[source].patientParams.includes(param)
              ? 'all'
              : matches.map((match) => `${param}:${target}/${String(match.content.id)}`);
          keep(await store.referring(recordId, source, tokens, MAX_INCLUDED - found.length));
        }
        return found;
      };

      /** Whether `body` is a resource `check` accepted for this record and `type`. */
      const isChecked = (body: unknown, type: RecordType): body is Json =>
        typeof body === 'object' && body !== null && (body as { [ACCEPTED_FOR]?: string })[ACCEPTED_FOR] === `${recordId}/${type}`;

      const repository: RecordRepository = {
        async read(type, id) {
          const event = lineFor('fhir.read', type);
          const row = await whileLive(
            event,
            async (line, values) => {
              const found = await store.findWhileLive(recordId, type, id, line, values);
              return { live: found.live, result: found.row };
            },
            () => store.find(recordId, type, id, event),
          );
          if (!row) {
            if ((await store.latestVersion(recordId, type, id))?.deleted) throw new ResourceDeleted(type, id);
            throw new ResourceNotFound(type, id);
          }
          return toStored(row);
        },

        async readVersion(type, id, versionId) {
          const row = await store.version(recordId, type, id, versionId, lineFor('fhir.read', type));
          if (!row) throw new ResourceNotFound(`${type}/${id}/_history`, String(versionId));
          if (row.deleted || !row.content) throw new ResourceDeleted(type, id, versionId);
          return { content: row.content, versionId: row.version_id, lastUpdated: row.last_updated };
        },

        async history(type, id, { count, before }) {
          const page = await store.history(recordId, type, id, count, before, lineFor('fhir.history', type));
          if (page.total === 0) throw new ResourceNotFound(type, id);
          return { total: page.total, entries: page.rows.map(historyEntry), nextBefore: page.more ? page.rows.at(-1)?.version_id : undefined };
        },

        check(type, body, options = {}) {
          // A copy of its own: the mark never lands on (or fails on) an object the caller still holds.
          const resource = { ...acceptResource(body, { type, id: options.id, record: { id: recordId, fhirBase }, rewrite: options.rewrite }) };
          Object.defineProperty(resource, ACCEPTED_FOR, { value: `${recordId}/${type}` });
          return deepFreeze(resource);
        },

        async create(type, body, options = {}) {
          const id = type === 'Patient' ? recordId : (options.id ?? randomUUID());
          if (type === 'Patient') {
            await liveness?.settle();
            if (await store.find(recordId, type, id)) throw new NotSupported('A record holds exactly one Patient: update it instead.');
          }
          const resource = accepted(type, body);
          const lastUpdated = new Date();
          const content = asStored(resource, id, 1, lastUpdated);
          const row = rowOf(recordId, type, id, 1, lastUpdated, content);
          const event = lineFor('fhir.created', type);
          await whileLive(
            event,
            async (line, values) => ({ live: await store.insertWhileLive(row, line, values), result: undefined }),
            () => store.insert(row, event),
          );
          return { content, versionId: 1, lastUpdated };
        },

        async conditionalMatch(type, criteria) {
          const condition = { ...criteria, count: 2, after: undefined, sort: undefined, includes: [], revincludes: [], countOnly: false, elements: undefined };
          // A condition naming another record's patient matches nothing here.
          const found = criteria.patients.some((patient) => patient !== recordId) ? { total: 0, rows: [] } : await store.search(recordId, type, condition);
          if (found.total > 1) throw new MultipleMatches(`${found.total} ${type} resources in this record match the condition; make it match one at most.`);
          const [match] = found.rows;
          return match && toStored(match);
        },

        async createIfNoneExist(type, body, criteria, options = {}) {
          return db.transaction(async () => {
            await db.lock(`conditional-create:${recordId}:${type}`);
            const match = await repository.conditionalMatch(type, criteria);
            // The match stands in for the new resource: read (and audited) as a read of it.
            const found = match && (await store.find(recordId, type, String(match.content.id), lineFor('fhir.read', type)));
            if (found) return { created: false, resource: toStored(found) };
            return { created: true, resource: await repository.create(type, body, options) };
          });
        },

        async update(type, id, body, ifMatch) {
          const resource = accepted(type, body, id);
          const existing = await store.find(recordId, type, id);
          if (!existing) throw new ResourceNotFound(type, id);
          if (ifMatch !== undefined && ifMatch !== existing.version_id) {
            throw new VersionConflict(`${type}/${id} has changed: it is at version ${existing.version_id}, not ${ifMatch}.`);
          }
          const versionId = existing.version_id + 1;
          const lastUpdated = new Date();
          const content = asStored(resource, id, versionId, lastUpdated);
          if (!(await store.replace(rowOf(recordId, type, id, versionId, lastUpdated, content), existing.version_id, lineFor('fhir.updated', type)))) {
            throw new VersionConflict(`${type}/${id} was changed by someone else at the same time; read it again.`);
          }
          return { content, versionId, lastUpdated };
        },

        async remove(type, id) {
          if (type === 'Patient') throw new NotSupported('The Patient of a record cannot be deleted.');
          if (await store.delete(recordId, type, id, new Date(), lineFor('fhir.deleted', type))) return;
          // Deleting what is already deleted changes nothing and succeeds (http.html#delete).
          if ((await store.latestVersion(recordId, type, id))?.deleted) return;
          throw new ResourceNotFound(type, id);
        },

        async search(type, criteria, readable = () => true) {
          // A search naming another record's patient matches nothing here (and is audited as such).
          const own = criteria.patients.some((patient) => patient !== recordId) ? { ...criteria, ids: [...criteria.ids, []] } : criteria;
          const event = lineFor('fhir.searched', type);
          const result = await whileLive(
            event,
            async (line, values) => {
              const found = await store.search(recordId, type, own, line, values);
              return { live: found.live, result: found };
            },
            () => store.search(recordId, type, own, event),
          );
          const resources = result.rows.map(toStored);
          const included = await inclusions(type, criteria, resources, readable);
          const last = result.rows.at(-1) as { seq?: string; sort_key?: string } | undefined;
          return {
            total: result.total,
            resources,
            included,
            nextCursor: result.more && last?.seq ? { seq: Number(last.seq), ...(criteria.sort ? { key: Number(last.sort_key) } : {}) } : undefined,
          };
        },

        async everything(types, { since, count, after }) {
          const result = await store.everything(recordId, types, since, count, after, lineFor('fhir.everything', 'Patient'));
          const last = result.rows.at(-1);
          return { total: result.total, resources: result.rows.map(toStored), nextCursor: result.more && last ? Number(last.seq) : undefined };
        },

        async contents(limit = 500) {
          const groups = new Map<string, { id: string; summary: string; lastUpdated: Date }[]>();
          for (const row of await store.contents(recordId, limit)) {
            const items = groups.get(row.type) ?? [];
            items.push({ id: row.id, summary: summarize(row.content), lastUpdated: row.last_updated });
            groups.set(row.type, items);
          }
          return [...groups].map(([type, items]) => ({ type, items }));
        },
      };
      if (!liveness) return repository;
      // Every other method reads the token's liveness before it reads or writes anything.
      const guarded: Record<string, unknown> = {};
      for (const [name, method] of Object.entries(repository) as [keyof RecordRepository, (...args: unknown[]) => unknown][]) {
        guarded[name] = CARRY_LIVENESS.has(name)
          ? method
          : async (...args: unknown[]) => {
              await liveness.settle();
              return method(...args);
            };
      }
      return guarded as RecordRepository;
    },
  };
}

export type RecordRepositories = ReturnType<typeof createRecordRepositories>;
