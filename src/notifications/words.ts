/**
 * Change notifications' audit events in a record's history, in words: the person sees which apps
 * asked to be told of changes to the record, and when they stopped.
 */
import type { AuditWords } from '../audit/words';

/** What a Subscription's filter reached, in the history's words. */
function changesOf(details: Record<string, unknown>): string {
  return typeof details.type === 'string' ? `${details.type} changes` : 'changes';
}

export const NOTIFICATION_WORDS: AuditWords = {
  'notifications.subscribed': (event, { app }) => `${app} asked to be notified of ${changesOf(event.details)} to this record`,
  'notifications.changed': (event, { app }) => `${app} changed how it is notified of ${changesOf(event.details)} to this record`,
  'notifications.unsubscribed': (event, { app }) => `${app} stopped being notified of ${changesOf(event.details)} to this record`,
};
