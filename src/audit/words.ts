/**
 * Audit events in plain words, as the history page shows them: the core's own kinds here, each
 * feature's kinds in the words the feature gives (its `auditWords`, by event kind).
 */
import { CATALOGUE, countOf, isRecordType } from '../rules/catalogue';
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
  'account-closed': 'lost its access because the person who allowed it closed their account',
  'access-ended': 'lost its access because the person who allowed it no longer has access to this record',
};

export type HistoryLine = { when: Date; summary: string; details: string[] };

/**
 * A history line, and for a read that may repeat: who did which read (`repeats`, the same for the
 * same app or person, kind and type) and the words for doing it `count` times (`again`).
 */
export type DescribedLine = HistoryLine & { repeats?: string; again?: (count: number) => string };

/** What kinds of event count as news for the person on their home page. */
export type NewsKind = 'message' | 'item' | 'connection';

/** The core's events that are news: what apps add (fhir.created by an app), imports, new authorizations. */
export const CORE_NEWS: Readonly<Record<string, NewsKind>> = {
  'fhir.created': 'item',
  'record.imported': 'item',
  'authorization.granted': 'connection',
};

/** Reads, by kind: the verb of one, and the words of doing it again and again. */
const READS: Readonly<Record<string, { verb: string; repeated: (things: string, count: number) => string }>> = {
  'fhir.read': { verb: 'read', repeated: (things, count) => `read ${things} ${count} times` },
  'fhir.searched': { verb: 'searched and found', repeated: (things, count) => `searched ${things} ${count} times` },
  'fhir.history': { verb: 'read earlier versions of', repeated: (things, count) => `read earlier versions of ${things} ${count} times` },
};

/** Every kind of event the core itself appends (features word theirs): the unit test checks none is missing. */
export const CORE_KINDS = [
  'authorization.granted',
  'authorization.denied',
  'authorization.removed',
  'authorization.trimmed',
  'token.issued',
  'token.refreshed',
  'fhir.everything',
  'fhir.read',
  'fhir.created',
  'fhir.updated',
  'fhir.deleted',
  'fhir.history',
  'fhir.searched',
  'record.opened',
  'record.downloaded',
  'record.imported',
] as const;

/** The access an authorization event names, or `none` for a missing or unknown one. */
function accessOf(value: unknown): Access {
  return typeof value === 'string' && Object.hasOwn(ACCESS_WORDS, value) ? (value as Access) : 'none';
}

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
export function describeEvent(event: AuditEventRow, appNames: ReadonlyMap<string, string>, words: AuditWords): DescribedLine {
  const d = event.details;
  const app = (event.client_id && appNames.get(event.client_id)) || detailText(d.client_name, 'An app');
  const actor = event.client_id ? app : detailText(d.person_name, app);
  const person = detailText(d.person_name, 'Someone');
  // Whoever acted, the same for every event of theirs: repeated reads fold by it.
  const who = event.client_id ? `app ${event.client_id}` : `person ${event.person_id ?? actor}`;
  const featureWords = Object.hasOwn(words, event.kind) ? words[event.kind] : undefined;
  if (featureWords) return { when: event.occurred_at, summary: featureWords(event, { app, person, actor }), details: [] };
  switch (event.kind) {
    case 'authorization.granted':
      return {
        when: event.occurred_at,
        summary: `${person} allowed ${app} to reach this record, ${ACCESS_WORDS[accessOf(d.access)].words}`,
        details: recordRules(detailText(d.rules, '')).map((rule) => describeScope(rule, app)),
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
      const what = rule === 'offline_access' ? 'offline access' : rule ? `“${describeScope(rule, app)}”` : 'a permission';
      const summary =
        d.by === 'access-lowered'
          ? `${app} can no longer ${what === 'a permission' ? 'use a permission' : `use ${what}`}: the access of the person who allowed it was lowered`
          : `${person} turned off ${what} for ${app}`;
      return { when: event.occurred_at, summary, details: [] };
    }
    case 'token.issued':
    case 'token.refreshed': {
      const verb = event.kind === 'token.issued' ? 'received' : 'renewed';
      return {
        when: event.occurred_at,
        summary: `${app} ${verb} ${event.kind === 'token.issued' ? 'access tokens' : 'its access tokens'}`,
        details: [],
        repeats: `${who} ${event.kind}`,
        again: (count) => `${app} ${verb} ${event.kind === 'token.issued' ? 'access tokens' : 'its access tokens'} ${count} times`,
      };
    }
    case 'fhir.everything': {
      const count = detailCount(d.count);
      return {
        when: event.occurred_at,
        summary: `${actor} read the whole record (${count} ${count === 1 ? 'item' : 'items'})`,
        details: [],
        repeats: `${who} ${event.kind}`,
        again: (times) => `${actor} read the whole record ${times} times`,
      };
    }
    case 'fhir.read':
    case 'fhir.history':
    case 'fhir.searched': {
      const type = detailText(d.type, '');
      const count = detailCount(d.count);
      const things = isRecordType(type) ? countOf(type, count) : `${count} ${type}`;
      const plural = isRecordType(type) ? CATALOGUE[type].nouns[1] : type;
      const read = READS[event.kind];
      return {
        when: event.occurred_at,
        summary: `${actor} ${read?.verb ?? 'read'} ${things}`,
        details: [],
        repeats: `${who} ${event.kind} ${type}`,
        again: (times) => `${actor} ${read ? read.repeated(plural, times) : `read ${plural} ${times} times`}`,
      };
    }
    case 'fhir.created':
    case 'fhir.updated':
    case 'fhir.deleted': {
      const type = detailText(d.type, '');
      const count = detailCount(d.count);
      const things = isRecordType(type) ? countOf(type, count) : `${count} ${type}`;
      const verb = { 'fhir.created': 'added', 'fhir.updated': 'changed', 'fhir.deleted': 'deleted' }[event.kind];
      return { when: event.occurred_at, summary: `${actor} ${verb} ${things}`, details: [] };
    }
    case 'record.opened': {
      const relationship = detailText(d.relationship, 'self');
      const summary = relationship === 'self' ? `${person} opened this record as their own` : `${person} opened this record for someone in their care`;
      return { when: event.occurred_at, summary, details: [] };
    }
    case 'record.downloaded': {
      const count = detailCount(d.count);
      return { when: event.occurred_at, summary: `${person} downloaded this whole record (${count} ${count === 1 ? 'item' : 'items'})`, details: [] };
    }
    case 'record.imported': {
      const count = detailCount(d.count);
      return {
        when: event.occurred_at,
        summary: `${person} imported ${count} ${count === 1 ? 'item' : 'items'} from the file ${detailText(d.filename, 'a file')}`,
        details: [],
      };
    }
    default:
      // Unreachable while every kind has words (test/unit/audit-words.test.ts); never the raw kind.
      return { when: event.occurred_at, summary: `${actor} did something to this record`, details: [] };
  }
}
