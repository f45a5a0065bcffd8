/**
 * What just happened to records, told by the feature that did it once its transaction committed, to
 * any feature that listens — so one feature can act on another's news (the account mailing a person
 * that a message arrived) without either naming the other. Listeners run one after the other; a
 * listener's failure is logged and never reaches the feature that told, whose change already stands.
 */
import { describeError, log } from './log';

/** Something that happened to some records: `kind` is an audit kind of the feature that tells it. */
export type RecordEvent = Readonly<{ kind: string; recordIds: readonly string[] }>;

type RecordEventListener = (event: RecordEvent) => Promise<void>;

export type RecordEvents = {
  /** Called with every event told from now on. */
  listen(listener: RecordEventListener): void;
  /** Tells every listener; call only after the change's transaction committed. Never throws. */
  tell(event: RecordEvent): Promise<void>;
};

export function createRecordEvents(): RecordEvents {
  const listeners: RecordEventListener[] = [];
  return {
    listen(listener) {
      listeners.push(listener);
    },
    async tell(event) {
      for (const listener of listeners) {
        try {
          await listener(event);
        } catch (error) {
          log.warn('a listener of record events failed', { kind: event.kind, ...describeError(error) });
        }
      }
    },
  };
}
