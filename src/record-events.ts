/**
 * What just happened to records, told by the feature that did it once its transaction committed, to
 * any feature that listens — so one feature can act on another's news (the account mailing a person
 * that a message arrived) without either naming the other. Listeners run after the telling returns,
 * one after the other: what they do (a mail to a slow server) never holds the request that told, and
 * a listener's failure is logged and never reaches that feature, whose change already stands.
 */
import { describeError, log } from './log';

/** Something that happened to some records: `kind` is an audit kind of the feature that tells it. */
export type RecordEvent = Readonly<{ kind: string; recordIds: readonly string[] }>;

type RecordEventListener = (event: RecordEvent) => Promise<void>;

export type RecordEvents = {
  /** Called with every event told from now on. */
  listen(listener: RecordEventListener): void;
  /** Hands the event to every listener and returns at once; call only after the change's transaction committed. Never throws. */
  tell(event: RecordEvent): void;
  /** Waits until the listeners have heard every event told so far (before the database closes, say). */
  settled(): Promise<void>;
};

export function createRecordEvents(): RecordEvents {
  const listeners: RecordEventListener[] = [];
  const hearing = new Set<Promise<void>>();

  const hear = async (event: RecordEvent) => {
    for (const listener of listeners) {
      try {
        await listener(event);
      } catch (error) {
        log.warn('a listener of record events failed', { kind: event.kind, ...describeError(error) });
      }
    }
  };

  return {
    listen(listener) {
      listeners.push(listener);
    },
    tell(event) {
      const heard = hear(event).finally(() => hearing.delete(heard));
      hearing.add(heard);
    },
    async settled() {
      while (hearing.size > 0) await Promise.all(hearing);
    },
  };
}
