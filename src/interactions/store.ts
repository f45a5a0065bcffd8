/**
 * SQL on interaction_traces: what became of each step of a web authorization request, so a page
 * reached again after its interaction ended tells the truth about it (see the table's migration).
 */
import type { Database } from '../db';

export type TraceOutcome = 'signed_in' | 'allowed' | 'denied' | 'answered';

export type TraceRow = {
  uid: string;
  request_key: string;
  client_id: string;
  prompt: string;
  redirect_uri: string;
  state: string | null;
  response_mode: string | null;
  outcome: TraceOutcome | null;
  person_id: string | null;
  record_id: string | null;
  created_at: Date;
};

export type NewTrace = Pick<TraceRow, 'uid' | 'request_key' | 'client_id' | 'prompt' | 'redirect_uri' | 'state' | 'response_mode' | 'person_id'>;

/** How long a step is remembered after it was first shown: long enough for Back the next day. */
const KEPT_MS = 24 * 3600 * 1000;

export function createTraceStore(db: Database) {
  return {
    /** Remembers a step when its page is first shown (a later visit changes nothing). */
    async seen(trace: NewTrace): Promise<void> {
      await db
        .table('interaction_traces')
        // Times in milliseconds, as they are read back, so "later" compares like with like.
        .insert({ ...trace, created_at: new Date(), expires_at: new Date(Date.now() + KEPT_MS) })
        .onConflict('uid')
        .ignore();
    },

    /** Records the answer to a step, in the transaction that gives it. */
    async answered(uid: string, outcome: TraceOutcome, who: { personId?: string | undefined; recordId?: string | undefined }): Promise<void> {
      await db
        .table('interaction_traces')
        .where({ uid })
        .update({ outcome, ...(who.personId ? { person_id: who.personId } : {}), record_id: who.recordId ?? null });
    },

    async find(uid: string): Promise<TraceRow | undefined> {
      return db.table('interaction_traces').where({ uid }).andWhere('expires_at', '>', new Date()).first();
    },

    /** The newest step of the same request begun after `trace`, if any. */
    async later(trace: TraceRow): Promise<TraceRow | undefined> {
      return db
        .table('interaction_traces')
        .where({ request_key: trace.request_key, client_id: trace.client_id })
        .whereNot({ uid: trace.uid })
        .andWhere('created_at', '>', trace.created_at)
        .andWhere('expires_at', '>', new Date())
        .orderBy('created_at', 'desc')
        .first();
    },

    async sweep(): Promise<number> {
      return db.table('interaction_traces').where('expires_at', '<=', new Date()).delete();
    },
  };
}

export type TraceStore = ReturnType<typeof createTraceStore>;
