/**
 * Patient Connect's audit events in a record's history, in words.
 */
import type { AuditWords } from '../audit/words';

export const CONNECT_WORDS: AuditWords = {
  'connect.authorized': (_event, { person, app }) => `${person} connected ${app} to this record with a connect request`,
};
