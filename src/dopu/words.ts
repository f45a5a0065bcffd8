/**
 * DOPU's audit events in a record's history, in words.
 */
import { detailCount, type AuditWords } from '../audit/words';

export const DOPU_WORDS: AuditWords = {
  'dopu.picked_up': (event, { app }) => {
    const count = detailCount(event.details.count);
    return `${app} dropped off ${count === 1 ? '1 item — you picked it up' : `${count} items — you picked them up`}`;
  },
};
