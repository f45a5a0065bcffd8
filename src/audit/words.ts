/**
 * Audit events in plain words, as the history page shows them.
 */
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
    default:
      return { when: event.occurred_at, summary: `${app}: ${event.kind}`, details: [] };
  }
}
