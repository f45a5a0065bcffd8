/**
 * SQL for two-step sign-in: a person's authenticator app (its secret sealed, the newest time step
 * accepted) and their recovery codes (SHA-256 only). Accepting a code is one conditional update, so
 * two uses of the same code race to one winner (RFC 6238 §5.2: a code is accepted once).
 */
import type { Database } from '../db';

export type AppRow = { secret_sealed: string; confirmed_at: Date | null; last_step: string | number | null };

export function createTwoStepStore(db: Database) {
  return {
    async app(personId: string): Promise<AppRow | undefined> {
      return db.table('two_step_apps').where({ person_id: personId }).first('secret_sealed', 'confirmed_at', 'last_step');
    },

    /** Starts (or starts again) an unconfirmed setup; a confirmed app is never replaced here. */
    async startSetup(personId: string, sealed: string, at: Date): Promise<boolean> {
      const rows = await db
        .table('two_step_apps')
        .insert({ person_id: personId, secret_sealed: sealed, created_at: at })
        .onConflict('person_id')
        .merge(['secret_sealed', 'created_at'])
        .where('two_step_apps.confirmed_at', null)
        .returning('person_id');
      return rows.length > 0;
    },

    /** Accepts time step `step` once: false when it (or a later one) was accepted before. */
    async acceptStep(personId: string, step: number, confirmAt?: Date): Promise<boolean> {
      const count = await db
        .table('two_step_apps')
        .where({ person_id: personId })
        .whereRaw('(last_step is null or last_step < ?)', [step])
        .update(confirmAt ? { last_step: step, confirmed_at: confirmAt } : { last_step: step });
      return count > 0;
    },

    async removeApp(personId: string): Promise<void> {
      await db.table('two_step_apps').where({ person_id: personId }).delete();
    },

    /** Replaces every recovery code of the person by these hashes (none: the codes are gone). */
    async replaceRecoveryCodes(personId: string, hashes: readonly string[]): Promise<void> {
      await db.table('recovery_codes').where({ person_id: personId }).delete();
      if (hashes.length) await db.table('recovery_codes').insert(hashes.map((code_hash) => ({ code_hash, person_id: personId })));
    },

    /** Uses an unused recovery code of the person, once. */
    async useRecoveryCode(personId: string, hash: string, at: Date): Promise<boolean> {
      const count = await db.table('recovery_codes').where({ person_id: personId, code_hash: hash }).whereNull('used_at').update({ used_at: at });
      return count > 0;
    },

    async recoveryCodesLeft(personId: string): Promise<number> {
      const row = (await db.table('recovery_codes').where({ person_id: personId }).whereNull('used_at').count({ n: '*' }).first()) as
        { n: string | number } | undefined;
      return Number(row?.n ?? 0);
    },
  };
}

export type TwoStepStore = ReturnType<typeof createTwoStepStore>;
