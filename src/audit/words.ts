/**
 * Audit events in plain words, as the history page shows them.
 */
import { countOf, isRecordType } from '../rules/catalogue';
import { ACCESS_WORDS, describeScope, recordRules, type Access } from '../rules/scopes';
import type { AuditEventRow } from './store';

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' && value ? value : fallback;
}

const ENDED_WORDS: Readonly<Record<string, string>> = {
  person: 'removed its access',
  app: 'ended its own access',
  security: 'lost its access because an old code or token was used again',
};

/** " with 2 attachments", " with 1 attachment", or nothing (Direct messages). */
function withAttachments(count: unknown): string {
  if (typeof count !== 'number' || count <= 0) return '';
  return ` with ${count} attachment${count === 1 ? '' : 's'}`;
}

export type HistoryLine = { when: Date; summary: string; details: string[] };

/** Who an event is about, for grouping the history: the app when there is one, else the person. */
export function actorOf(event: AuditEventRow, appNames: ReadonlyMap<string, string>): string {
  const d = event.details;
  if (event.client_id) return appNames.get(event.client_id) || text(d.client_name, 'An app');
  return text(d.person_name, text(d.client_name, 'carevault'));
}

/** An event as a line of the record's history; `appNames` gives the apps' registered names. */
export function describeEvent(event: AuditEventRow, appNames: ReadonlyMap<string, string>): HistoryLine {
  const d = event.details;
  const app = (event.client_id && appNames.get(event.client_id)) || text(d.client_name, 'An app');
  const actor = event.client_id ? app : text(d.person_name, app);
  const person = text(d.person_name, 'Someone');
  switch (event.kind) {
    case 'authorization.granted':
      return {
        when: event.occurred_at,
        summary: `${person} allowed ${app} to reach this record, ${ACCESS_WORDS[(text(d.access, 'none') in ACCESS_WORDS ? d.access : 'none') as Access].words}`,
        details: recordRules(text(d.rules, '')).map(describeScope),
      };
    case 'authorization.denied':
      return { when: event.occurred_at, summary: `${person} denied ${app} access`, details: [] };
    case 'authorization.removed': {
      const by = text(d.by, 'person');
      const summary = by === 'person' ? `${person} removed ${app}'s access` : `${app} ${ENDED_WORDS[by] ?? 'lost its access'}`;
      return { when: event.occurred_at, summary, details: [] };
    }
    case 'connect.authorized':
      return { when: event.occurred_at, summary: `${person} connected ${app} to this record with a connect request`, details: [] };
    case 'token.issued':
      return { when: event.occurred_at, summary: `${app} received access tokens`, details: [] };
    case 'token.refreshed':
      return { when: event.occurred_at, summary: `${app} renewed its access tokens`, details: [] };
    case 'fhir.everything': {
      const count = typeof d.count === 'number' ? d.count : 0;
      return { when: event.occurred_at, summary: `${actor} read the whole record (${count} ${count === 1 ? 'item' : 'items'})`, details: [] };
    }
    case 'fhir.read':
    case 'fhir.created':
    case 'fhir.updated':
    case 'fhir.deleted':
    case 'fhir.history':
    case 'fhir.searched': {
      const type = text(d.type, '');
      const count = typeof d.count === 'number' ? d.count : 0;
      const things = isRecordType(type) ? countOf(type, count) : `${count} ${type}`;
      const verb = { 'fhir.read': 'read', 'fhir.created': 'added', 'fhir.updated': 'changed', 'fhir.deleted': 'deleted', 'fhir.history': 'read earlier versions of', 'fhir.searched': 'searched and found' }[event.kind];
      return { when: event.occurred_at, summary: `${actor} ${verb} ${things}`, details: [] };
    }
    case 'record.downloaded': {
      const count = typeof d.count === 'number' ? d.count : 0;
      return { when: event.occurred_at, summary: `${person} downloaded this whole record (${count} ${count === 1 ? 'item' : 'items'})`, details: [] };
    }
    case 'record.imported': {
      const count = typeof d.count === 'number' ? d.count : 0;
      return { when: event.occurred_at, summary: `${person} imported ${count} ${count === 1 ? 'item' : 'items'} from the file ${text(d.filename, 'a file')}`, details: [] };
    }
    case 'dopu.picked_up': {
      const count = typeof d.count === 'number' ? d.count : 0;
      return { when: event.occurred_at, summary: `${app} dropped off ${count === 1 ? '1 item — you picked it up' : `${count} items — you picked them up`}`, details: [] };
    }
    case 'direct.received': {
      // An app by its registered name; a member's record (named as they like) as a member's, with its Direct address.
      const sender = event.client_id ? app : `${text(d.sender_name, 'Someone')}, a carevault member${typeof d.sender_address === 'string' ? ` (${d.sender_address})` : ''},`;
      return { when: event.occurred_at, summary: `${sender} sent you '${text(d.subject, '(no subject)')}'${withAttachments(d.attachments)}`, details: [] };
    }
    case 'direct.sent':
      return { when: event.occurred_at, summary: `${person} sent '${text(d.subject, '(no subject)')}' to ${text(d.to, 'another address')}${withAttachments(d.attachments)}`, details: [] };
    case 'direct.filed':
      return { when: event.occurred_at, summary: `${person} added ${text(d.filename, 'an attachment')} from the message '${text(d.subject, '(no subject)')}' to this record as a document`, details: [] };
    case 'direct.deleted':
      return { when: event.occurred_at, summary: `${person} deleted the message '${text(d.subject, '(no subject)')}' from ${text(d.sender_name, 'someone')}`, details: [] };
    default:
      return { when: event.occurred_at, summary: `${app}: ${event.kind}`, details: [] };
  }
}
