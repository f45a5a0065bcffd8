/**
 * The records API's operations — read, create, update, delete, search — on the one record a token
 * reaches, with the token's permissions enforced and every access written to the audit log.
 * Knows nothing of HTTP. https://hl7.org/fhir/R4/http.html
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { AuditLog } from '../audit/service';
import type { RecordType } from '../rules/catalogue';
import { demand, type RecordAccess } from './access';
import { indexResource } from './indexing';
import { InvalidResource, Refused, ResourceNotFound, VersionConflict } from './outcome';
import { parseSearch, type SearchCriteria } from './search';
import { deleteResource, findResource, insertResource, recordContents, renameRecord, replaceResource, searchResources, type ResourceRow } from './store';
import { summarize } from './summary';
import { findUnstorable } from '../security/storable-text';
import { validateResource } from './validation';

type Json = Record<string, unknown>;

/** The element that names the record's Patient, per type. */
const PATIENT_ELEMENT: Readonly<Record<Exclude<RecordType, 'Patient'>, string>> = {
  Observation: 'subject',
  Condition: 'subject',
  MedicationStatement: 'subject',
  AllergyIntolerance: 'patient',
  Immunization: 'patient',
  Procedure: 'subject',
  DocumentReference: 'subject',
};

/** The name people see for a Patient: its first name's text, or given and family names. */
function patientName(patient: Json): string | undefined {
  const [first] = (patient.name as { text?: unknown; given?: unknown; family?: unknown }[] | undefined) ?? [];
  if (typeof first?.text === 'string' && first.text.trim()) return first.text.trim().slice(0, 200);
  const parts = [...(Array.isArray(first?.given) ? first.given : []), first?.family].filter((part): part is string => typeof part === 'string');
  return parts.length ? parts.join(' ').slice(0, 200) : undefined;
}

export type StoredResource = { content: Json; versionId: number; lastUpdated: Date };

function toStored(row: Pick<ResourceRow, 'content' | 'version_id' | 'last_updated'>): StoredResource {
  return { content: row.content, versionId: row.version_id, lastUpdated: row.last_updated };
}

export function createFhirService(knex: Knex, audit: AuditLog, touch: (authorizationId: string) => Promise<void>) {
  async function record(access: RecordAccess, kind: string, type: RecordType, count: number, db: Knex | Knex.Transaction = knex) {
    await audit.append({ recordId: access.recordId, kind, clientId: access.clientId, details: { client_name: access.clientName, type, count } }, db);
  }

  /**
   * Points the resource at the token's record when it names no patient, and refuses one that
   * names another (a write can never move data into someone else's record).
   */
  function bindToRecord(access: RecordAccess, type: RecordType, resource: Json): Json {
    if (type === 'Patient') return resource;
    const element = PATIENT_ELEMENT[type];
    const value = resource[element];
    if (value === undefined) return { ...resource, [element]: { reference: `Patient/${access.recordId}` } };
    const reference = value && typeof value === 'object' && !Array.isArray(value) ? (value as { reference?: unknown }).reference : undefined;
    if (typeof reference !== 'string') {
      throw new InvalidResource(`${type}.${element} must be a Reference like {"reference": "Patient/${access.recordId}"}.`, [`${type}.${element}`]);
    }
    if (reference.replace(/^.*\/(Patient\/)/, '$1') !== `Patient/${access.recordId}`) {
      throw new Refused(`${type}.${element} must refer to this record's patient, Patient/${access.recordId}.`);
    }
    return resource;
  }

  function validated(type: RecordType, resource: Json): Json {
    const result = validateResource(resource, type);
    if (!result.valid) {
      const [first] = result.issues;
      throw new InvalidResource(first ? `${first.path}: ${first.message}` : 'The resource is not valid.', result.issues.map((issue) => issue.path));
    }
    return resource;
  }

  function asResource(type: RecordType, body: unknown): Json {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidResource(`The body must be a ${type} resource.`);
    const unstorable = findUnstorable(body, type);
    if (unstorable?.problem === 'depth') throw new InvalidResource(`${unstorable.path}: the resource is nested too deeply.`, [unstorable.path]);
    if (unstorable) throw new InvalidResource(`${unstorable.path}: text cannot contain NUL characters or broken Unicode.`, [unstorable.path]);
    const resource = body as Json;
    if (resource.resourceType !== type) throw new InvalidResource(`resourceType must be ${type}.`, [`${type}.resourceType`]);
    return resource;
  }

  function withMeta(resource: Json, id: string, versionId: number, lastUpdated: Date): Json {
    const meta = { ...((resource.meta as Json | undefined) ?? {}), versionId: String(versionId), lastUpdated: lastUpdated.toISOString() };
    return { ...resource, id, meta };
  }

  return {
    async read(access: RecordAccess, type: RecordType, id: string): Promise<StoredResource> {
      demand(access, type, 'r');
      const row = await findResource(knex, access.recordId, type, id);
      if (!row) throw new ResourceNotFound(type, id);
      await record(access, 'fhir.read', type, 1);
      await touch(access.authorizationId);
      return toStored(row);
    },

    async create(access: RecordAccess, type: RecordType, body: unknown): Promise<StoredResource> {
      demand(access, type, 'c');
      if (type === 'Patient') throw new Refused('A record holds exactly one Patient: update it instead.', 405);
      const resource = validated(type, bindToRecord(access, type, asResource(type, body)));
      const id = randomUUID();
      const lastUpdated = new Date();
      const content = withMeta(resource, id, 1, lastUpdated);
      const { searchDate, searchTokens } = indexResource(content);
      await knex.transaction(async (trx) => {
        await insertResource(trx, { type, id, record_id: access.recordId, version_id: 1, last_updated: lastUpdated, content, search_date: searchDate ?? null, search_tokens: searchTokens });
        await record(access, 'fhir.created', type, 1, trx);
      });
      await touch(access.authorizationId);
      return { content, versionId: 1, lastUpdated };
    },

    /** Updates a resource; `ifMatch` is the version the client last saw (HTTP If-Match). */
    async update(access: RecordAccess, type: RecordType, id: string, body: unknown, ifMatch: number | undefined): Promise<StoredResource> {
      demand(access, type, 'u');
      const resource = asResource(type, body);
      if (resource.id !== id) throw new InvalidResource(`The resource's id must be ${id}, as in the URL.`, [`${type}.id`]);
      const existing = await findResource(knex, access.recordId, type, id);
      if (!existing) throw new ResourceNotFound(type, id);
      if (ifMatch !== undefined && ifMatch !== existing.version_id) {
        throw new VersionConflict(`${type}/${id} has changed: it is at version ${existing.version_id}, not ${ifMatch}.`);
      }
      const checked = validated(type, bindToRecord(access, type, resource));
      const versionId = existing.version_id + 1;
      const lastUpdated = new Date();
      const content = withMeta(checked, id, versionId, lastUpdated);
      const { searchDate, searchTokens } = indexResource(content);
      await knex.transaction(async (trx) => {
        const row = { type, id, record_id: access.recordId, version_id: versionId, last_updated: lastUpdated, content, search_date: searchDate ?? null, search_tokens: searchTokens };
        if (!(await replaceResource(trx, row, existing.version_id))) {
          throw new VersionConflict(`${type}/${id} was changed by someone else at the same time; read it again.`);
        }
        const name = type === 'Patient' ? patientName(content) : undefined;
        if (name) await renameRecord(trx, access.recordId, name);
        await record(access, 'fhir.updated', type, 1, trx);
      });
      await touch(access.authorizationId);
      return { content, versionId, lastUpdated };
    },

    async remove(access: RecordAccess, type: RecordType, id: string): Promise<void> {
      demand(access, type, 'd');
      if (type === 'Patient') throw new Refused('The Patient of a record cannot be deleted.', 405);
      await knex.transaction(async (trx) => {
        if (!(await deleteResource(trx, access.recordId, type, id))) throw new ResourceNotFound(type, id);
        await record(access, 'fhir.deleted', type, 1, trx);
      });
      await touch(access.authorizationId);
    },

    /**
     * What a record holds, by type, newest first, for its custodian's record page (the caller has
     * checked custodianship).
     */
    async contentsOf(recordId: string, limit = 500): Promise<{ type: string; items: { summary: string; lastUpdated: Date }[] }[]> {
      const groups = new Map<string, { summary: string; lastUpdated: Date }[]>();
      for (const row of await recordContents(knex, recordId, limit)) {
        const items = groups.get(row.type) ?? [];
        items.push({ summary: summarize(row.content), lastUpdated: row.last_updated });
        groups.set(row.type, items);
      }
      return [...groups].map(([type, items]) => ({ type, items }));
    },

    async search(access: RecordAccess, type: RecordType, query: Record<string, unknown>, strict: boolean) {
      demand(access, type, 's');
      const criteria: SearchCriteria = parseSearch(type, query, strict);
      const otherPatient = criteria.patients.some((patient) => patient !== access.recordId);
      const result = otherPatient ? { total: 0, rows: [], more: false } : await searchResources(knex, access.recordId, type, criteria);
      await record(access, 'fhir.searched', type, result.total);
      await touch(access.authorizationId);
      const last = result.rows.at(-1) as { seq?: string } | undefined;
      return {
        criteria,
        total: result.total,
        resources: result.rows.map(toStored),
        nextCursor: result.more && last?.seq ? Number(last.seq) : undefined,
      };
    },
  };
}

export type FhirService = ReturnType<typeof createFhirService>;
