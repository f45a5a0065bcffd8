/**
 * SQL for DOPU packages (table `dopu_packages`, migrations/20261130_006_dopu_packages.ts). Every
 * status change empties `sealed` in the same statement (a check constraint insists), and happens
 * only from `pending`, so two racing changes cannot both win.
 */
import type { Database } from '../db';
import type { PackageStatus } from './schemas';

export type PackageRow = {
  id: string;
  client_id: string;
  external_id: string | null;
  friendly_name: string;
  question: string;
  code_hash: string;
  salt: Buffer;
  sealed: Buffer | null;
  resource_count: number;
  status: PackageStatus;
  /** Wrong answers, and the answer being judged while `judging_until` is ahead (a right one gives it back). */
  wrong_answers: number;
  judging_until: Date | null;
  key_version: number;
  created_at: Date;
  expires_at: Date;
  updated_at: Date;
  picked_up_at: Date | null;
};

/** What an app may learn of its package: never the contents, the code or the question's answer. */
export type PackageFacts = Pick<
  PackageRow,
  'id' | 'client_id' | 'external_id' | 'status' | 'created_at' | 'expires_at' | 'updated_at' | 'picked_up_at' | 'resource_count'
>;

const FACTS = ['id', 'client_id', 'external_id', 'status', 'created_at', 'expires_at', 'updated_at', 'picked_up_at', 'resource_count'] as const;
const WITHOUT_CONTENTS = [...FACTS, 'friendly_name', 'question', 'code_hash', 'salt', 'wrong_answers', 'judging_until', 'key_version'] as const;

/** Where a package stands for its next answer. */
export type AnswerState = Pick<PackageRow, 'status' | 'wrong_answers' | 'judging_until' | 'expires_at'>;

export type ListFilter = { status?: PackageStatus | undefined; since?: Date | undefined; after?: { updatedAt: Date; id: string } | undefined; limit: number };

export function createPackageStore(db: Database) {
  const packages = () => db.table('dopu_packages');

  return {
    async insert(row: Omit<PackageRow, 'status' | 'wrong_answers' | 'judging_until' | 'picked_up_at'>): Promise<void> {
      await packages().insert(row);
    },

    /** The package with its sealed contents (up to 5 MB: only when they are to be opened). */
    async withContents(id: string): Promise<PackageRow | undefined> {
      return packages().where({ id }).first();
    },

    /** The package a code opens, without its contents. */
    async findByCode(codeHash: string): Promise<Omit<PackageRow, 'sealed'> | undefined> {
      return packages()
        .where({ code_hash: codeHash })
        .first(...WITHOUT_CONTENTS);
    },

    async factsOf(clientId: string, id: string): Promise<PackageFacts | undefined> {
      return packages()
        .where({ id, client_id: clientId })
        .first(...FACTS);
    },

    /** The app's packages by when their status last changed, oldest first, `limit + 1` to tell if there are more. */
    async list(clientId: string, filter: ListFilter): Promise<PackageFacts[]> {
      const query = packages()
        .where({ client_id: clientId })
        .select(...FACTS)
        .orderBy([{ column: 'updated_at' }, { column: 'id' }])
        .limit(filter.limit + 1);
      if (filter.status) query.andWhere({ status: filter.status });
      if (filter.since) query.andWhere('updated_at', '>=', filter.since);
      if (filter.after) query.andWhereRaw('(updated_at, id) > (?, ?::uuid)', [filter.after.updatedAt, filter.after.id]);
      return query;
    },

    async answerState(id: string): Promise<AnswerState | undefined> {
      return packages().where({ id }).first('status', 'wrong_answers', 'judging_until', 'expires_at');
    },

    /** Counts an attempt and holds the package for judging it until `until`; `false` when it is no longer pending. */
    async takeAttempt(id: string, until: Date): Promise<boolean> {
      const rows = await packages()
        .where({ id, status: 'pending' })
        .update({ wrong_answers: db.raw('wrong_answers + 1'), judging_until: until }, ['id']);
      return rows.length > 0;
    },

    /**
     * Ends the judging taken until `until` — giving its attempt back unless the answer was wrong — and
     * returns the wrong answers counted; `undefined` when the package is no longer pending or that
     * judging is not the package's (it outlived `until` and another took over). A wrong answer is a
     * change the app sees (`updated_at`), as it may lock the package.
     */
    async endJudging(id: string, until: Date, outcome: 'right' | 'wrong' | 'unjudged', now: Date): Promise<number | undefined> {
      const change = outcome !== 'wrong' ? { wrong_answers: db.raw('wrong_answers - 1') } : { updated_at: now };
      const [row] = await packages()
        .where({ id, status: 'pending', judging_until: until })
        .update({ judging_until: null, ...change }, ['wrong_answers']);
      return (row as { wrong_answers: number } | undefined)?.wrong_answers;
    },

    /** Ends a pending package (its contents deleted); `undefined` when it was no longer pending. */
    async end(id: string, status: Exclude<PackageStatus, 'pending'>, now: Date): Promise<PackageFacts | undefined> {
      const [row] = await packages()
        .where({ id, status: 'pending' })
        .update({ status, sealed: null, updated_at: now, ...(status === 'picked_up' ? { picked_up_at: now } : {}) })
        .returning([...FACTS]);
      return row as PackageFacts | undefined;
    },

    /** Marks pending packages past their expiry as expired (contents deleted); optionally only one app's, or one package. */
    async expireDue(now: Date, only: { clientId?: string; id?: string } = {}): Promise<PackageFacts[]> {
      const query = packages().where({ status: 'pending' }).andWhere('expires_at', '<=', now);
      if (only.clientId) query.andWhere({ client_id: only.clientId });
      if (only.id) query.andWhere({ id: only.id });
      return query.update({ status: 'expired', sealed: null, updated_at: now }).returning([...FACTS]);
    },

    /** How many packages are in each stored status, for the operator's metrics (all apps). */
    async countByStatus(): Promise<Record<string, number>> {
      const rows = (await packages().select('status').count({ count: '*' }).groupBy('status')) as { status: string; count: string | number }[];
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
    },
  };
}

/** Where one browser's pickup stands (table `dopu_pickup_steps`). */
export type StepRow = {
  browser_hash: string;
  person_id: string;
  package_id: string;
  stage: 'opened' | 'picked_up' | 'declined' | 'refused';
  ticket: string | null;
  record_id: string | null;
  notice: string | null;
  expires_at: Date;
};

/** SQL for the pickup steps: one row per browser, read only by the person it was written for. */
export function createStepStore(db: Database) {
  const steps = () => db.table('dopu_pickup_steps');
  return {
    async find(browserHash: string, personId: string, now: Date): Promise<StepRow | undefined> {
      return steps().where({ browser_hash: browserHash, person_id: personId }).andWhere('expires_at', '>', now).first();
    },

    /** Writes the browser's step, replacing whatever it held (another person's or package's included). */
    async put(row: StepRow): Promise<void> {
      await steps().insert(row).onConflict('browser_hash').merge();
    },

    /** Changes a step that is still open (a right answer, not yet ended); `false` when there is none. */
    async update(browserHash: string, personId: string, change: Partial<Pick<StepRow, 'stage' | 'ticket' | 'record_id' | 'notice'>>): Promise<boolean> {
      return (await steps().where({ browser_hash: browserHash, person_id: personId, stage: 'opened' }).update(change)) > 0;
    },

    /** Removes the steps past their time; returns how many. */
    async sweep(now: Date): Promise<number> {
      return steps().where('expires_at', '<=', now).delete();
    },
  };
}
