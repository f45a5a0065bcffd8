/**
 * Audit events in plain words, as the history page shows them.
 */
import { countOf, isRecordType } from '../rules/catalogue';
import { describeScope, splitScopes } from '../rules/scopes';
import type { AuditEventRow } from './store';

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' && value ? value : fallback;
}

const ACCESS_WORDS: Readonly<Record<string, string>> = {
  offline: 'also while you are away',
  online: 'only while you are signed in',
  none: 'for a short time, each time you sign in',
};

const ENDED_WORDS: Readonly<Record<string, string>> = {
  person: 'removed its access',
  app: 'ended its own access',
  security: 'lost its access because an old code or token was used again',
};

export type HistoryLine = { when: Date; summary: string; details: string[] };

export function describeEvent(event: AuditEventRow): HistoryLine {
  const d = event.details;
  const app = text(d.client_name, 'An app');
  const person = text(d.person_name, 'Someone');
  switch (event.kind) {
    case 'authorization.granted':
      return {
        when: event.occurred_at,
        summary: `${person} allowed ${app} to reach this record, ${ACCESS_WORDS[text(d.access, 'none')] ?? ''}`.trim(),
        details: splitScopes(text(d.rules, '')).filter((scope) => scope !== 'offline_access' && scope !== 'online_access').map(describeScope),
      };
    case 'authorization.denied':
      return { when: event.occurred_at, summary: `${person} denied ${app} access`, details: [] };
    case 'authorization.removed': {
      const by = text(d.by, 'person');
      const summary = by === 'person' ? `${person} removed ${app}'s access` : `${app} ${ENDED_WORDS[by] ?? 'lost its access'}`;
      return { when: event.occurred_at, summary, details: [] };
    }
    case 'token.issued':
      return { when: event.occurred_at, summary: `${app} received access tokens`, details: [] };
    case 'token.refreshed':
      return { when: event.occurred_at, summary: `${app} renewed its access tokens`, details: [] };
    case 'fhir.read':
    case 'fhir.created':
    case 'fhir.updated':
    case 'fhir.deleted':
    case 'fhir.searched': {
      const type = text(d.type, '');
      const count = typeof d.count === 'number' ? d.count : 0;
      const things = isRecordType(type) ? countOf(type, count) : `${count} ${type}`;
      const verb = { 'fhir.read': 'read', 'fhir.created': 'added', 'fhir.updated': 'changed', 'fhir.deleted': 'deleted', 'fhir.searched': 'searched and found' }[event.kind];
      return { when: event.occurred_at, summary: `${app} ${verb} ${things}`, details: [] };
    }
    default:
      return { when: event.occurred_at, summary: `${app}: ${event.kind}`, details: [] };
  }
}
