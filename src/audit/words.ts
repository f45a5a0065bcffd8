/**
 * Audit events in plain words, as the history page shows them: the core's own kinds here, each
 * feature's kinds in the words the feature gives (its `auditWords`, by event kind).
 */
import { countOf, isRecordType } from '../rules/catalogue';
import { ACCESS_WORDS, describeScope, recordRules, type Access } from '../rules/scopes';
import type { AuditEventRow } from './store';

/** A detail of an event that should be text, or `fallback` when it is missing or empty. */
export function detailText(value: unknown, fallback: string): string {
  return typeof value === 'string' && value ? value : fallback;
}

/** A detail of an event that should be a count, or 0. */
export function detailCount(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** Who an event names: the app (registered name), the person, and whichever of them acted. */
type EventParties = { app: string; person: string; actor: string };

/** A feature's words for one kind of its audit events: the history line's summary. */
export type AuditWording = (event: AuditEventRow, parties: EventParties) => string;

/** A feature's words for its audit events, by event kind. */
export type AuditWords = Readonly<Record<string, AuditWording>>;

const ENDED_WORDS: Readonly<Record<string, string>> = {
  person: 'removed its access',
  app: 'ended its own access',
  security: 'lost its access because an old code or token was used again',
};

export type HistoryLine = { when: Date; summary: string; details: string[] };

/** Who an event is about, for grouping the history: the app when there is one, else the person. */
export function actorOf(event: AuditEventRow, appNames: ReadonlyMap<string, string>): string {
  const d = event.details;
  if (event.client_id) return appNames.get(event.client_id) || detailText(d.client_name, 'An app');
  return detailText(d.person_name, detailText(d.client_name, 'carevault'));
}

/**
 * An event as a line of the record's history; `appNames` gives the apps' registered names, `words`
 * the features' words for their kinds.
 */
export function describeEvent(event: AuditEventRow, appNames: ReadonlyMap<string, string>, words: AuditWords): HistoryLine {
  const d = event.details;
  const app = (event.client_id && appNames.get(event.client_id)) || detailText(d.client_name, 'An app');
  const actor = event.client_id ? app : detailText(d.person_name, app);
  const person = detailText(d.person_name, 'Someone');
  const featureWords = Object.hasOwn(words, event.kind) ? words[event.kind] : undefined;
  if (featureWords) return { when: event.occurred_at, summary: featureWords(event, { app, person, actor }), details: [] };
  switch (event.kind) {
    case 'authorization.granted':
      return {
        when: event.occurred_at,
        summary: `${person} allowed ${app} to reach this record, ${ACCESS_WORDS[(detailText(d.access, 'none') in ACCESS_WORDS ? d.access : 'none') as Access].words}`,
        details: recordRules(detailText(d.rules, '')).map(describeScope),
      };
    case 'authorization.denied':
      // A refused new request leaves an earlier authorization as it was.
      return {
        when: event.occurred_at,
        summary: d.earlier_access === true ? `${person} refused a new request from ${app}; the earlier access stays` : `${person} denied ${app} access`,
        details: [],
      };
    case 'authorization.removed': {
      const by = detailText(d.by, 'person');
      const summary = by === 'person' ? `${person} removed ${app}'s access` : `${app} ${ENDED_WORDS[by] ?? 'lost its access'}`;
      return { when: event.occurred_at, summary, details: [] };
    }
    case 'authorization.trimmed': {
      const rule = detailText(d.rule, '');
      const what = rule === 'offline_access' ? 'offline access' : rule ? `“${describeScope(rule)}”` : 'a permission';
      return { when: event.occurred_at, summary: `${person} turned off ${what} for ${app}`, details: [] };
    }
    case 'token.issued':
      return { when: event.occurred_at, summary: `${app} received access tokens`, details: [] };
    case 'token.refreshed':
      return { when: event.occurred_at, summary: `${app} renewed its access tokens`, details: [] };
    case 'fhir.everything': {
      const count = detailCount(d.count);
      return { when: event.occurred_at, summary: `${actor} read the whole record (${count} ${count === 1 ? 'item' : 'items'})`, details: [] };
    }
    case 'fhir.read':
    case 'fhir.created':
    case 'fhir.updated':
    case 'fhir.deleted':
    case 'fhir.history':
    case 'fhir.searched': {
      const type = detailText(d.type, '');
      const count = detailCount(d.count);
      const things = isRecordType(type) ? countOf(type, count) : `${count} ${type}`;
      const verb = { 'fhir.read': 'read', 'fhir.created': 'added', 'fhir.updated': 'changed', 'fhir.deleted': 'deleted', 'fhir.history': 'read earlier versions of', 'fhir.searched': 'searched and found' }[event.kind];
      return { when: event.occurred_at, summary: `${actor} ${verb} ${things}`, details: [] };
    }
    case 'record.downloaded': {
      const count = detailCount(d.count);
      return { when: event.occurred_at, summary: `${person} downloaded this whole record (${count} ${count === 1 ? 'item' : 'items'})`, details: [] };
    }
    case 'record.imported': {
      const count = detailCount(d.count);
      return { when: event.occurred_at, summary: `${person} imported ${count} ${count === 1 ? 'item' : 'items'} from the file ${detailText(d.filename, 'a file')}`, details: [] };
    }
    default:
      return { when: event.occurred_at, summary: `${app}: ${event.kind}`, details: [] };
  }
}
