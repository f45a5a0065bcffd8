/**
 * Patient Connect's audit events in a record's history, in words.
 */
import type { AuditWords } from '../audit/words';

export const CONNECT_WORDS: AuditWords = {
  'connect.authorized': (_event, { person, app }) => `${person} connected ${app} to this record with a connect request`,
  // The rest are about a connect request before it reaches a record (its own log).
  'connect.requested': (_event, { app }) => `${app} made a connect request`,
  'connect.opened': (_event, { person, app }) => `${person} entered the identity code of a connect request from ${app}`,
  'connect.answered': (_event, { person, app }) => `${person} answered the secret question of a connect request from ${app}`,
  'connect.answer_wrong': (_event, { person, app }) => `${person} gave a wrong answer to a connect request from ${app}`,
  'connect.locked': (_event, { app }) => `A connect request from ${app} was locked after too many wrong answers`,
  'connect.denied': (_event, { app }) => `A connect request from ${app} was denied`,
  'connect.withdrawn': (_event, { app }) => `${app} withdrew a connect request`,
  'connect.expired': (_event, { app }) => `A connect request from ${app} expired`,
};
