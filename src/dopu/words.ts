/**
 * DOPU's audit events in a record's history, in words.
 */
import { detailCount, type AuditWords, type NewsKind } from '../audit/words';

const items = (count: number) => (count === 1 ? '1 item' : `${count} items`);

export const DOPU_WORDS: AuditWords = {
  'dopu.picked_up': (event, { app }) => {
    const count = detailCount(event.details.count);
    return `${app} dropped off ${count === 1 ? '1 item — you picked it up' : `${count} items — you picked them up`}`;
  },
  // The rest are about a package before it reaches a record (its own log, `package:<id>`).
  'dopu.dropped_off': (event, { app }) => `${app} dropped off a package of ${items(detailCount(event.details.count))}`,
  'dopu.answered': (_event, { person, app }) => `${person} answered the secret question of a package from ${app}`,
  'dopu.wrong_answer': (_event, { person, app }) => `${person} gave a wrong answer to the secret question of a package from ${app}`,
  'dopu.locked': (_event, { app }) => `A package from ${app} was locked after too many wrong answers`,
  'dopu.declined': (event, { person, app }) => `${person} declined a package of ${items(detailCount(event.details.count))} from ${app}`,
  'dopu.expired': (event, { app }) => `A package of ${items(detailCount(event.details.count))} from ${app} expired before it was picked up`,
  'dopu.withdrawn': (event, { app }) => `${app} withdrew a package of ${items(detailCount(event.details.count))}`,
};

/** A pickup puts items into a record. */
export const DOPU_NEWS: Readonly<Record<string, NewsKind>> = { 'dopu.picked_up': 'item' };
