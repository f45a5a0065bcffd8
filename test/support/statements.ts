/**
 * The statements one piece of work sends to the database, for tests that count round trips or
 * compare two paths statement by statement. The server's own timers (the signing-key reload, the
 * notification delivery) query while the work runs; their statements are not the work's.
 */
import type { Database } from '../../src/db';

/** Statements of the server's timers, told apart by the tables only they read (the job queue's schema among them). */
const TIMER_WORK = /signing_keys|subscription|notification_queue/;

/** Whether `sql` is a statement of the server's timers rather than of the work observed. */
export const isTimerWork = (sql: string): boolean => TIMER_WORK.test(sql);

/** What `work` returned, and the statements it sent. */
export async function statementsOf<T>(db: Pick<Database, 'onStatement'>, work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const stop = db.onStatement((sql) => {
    if (!isTimerWork(sql)) statements.push(sql);
  });
  try {
    return { result: await work(), statements };
  } finally {
    stop();
  }
}
