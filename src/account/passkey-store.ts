/**
 * SQL for passkeys: the credentials people registered, and the challenges of ceremonies under way.
 * A challenge is taken with one `delete … returning`, so two answers to the same challenge race to
 * one winner (WebAuthn Level 3 §13.4.3: a challenge is used once), on whichever instance they land.
 */
import type { Database } from '../db';

export type PasskeyRow = {
  id: string;
  person_id: string;
  credential_id: string;
  public_key: string;
  counter: string | number;
  backup_eligible: boolean;
  transports: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
};

/** How many live challenges one binding (a person, or one sign-in) keeps at most. */
const KEPT_PER_BINDING = 5;

/** What a challenge is for: adding a passkey, signing in with one alone, or as the second step. */
export type ChallengePurpose = 'register' | 'sign-in' | 'second-step';

export function createPasskeyStore(db: Database) {
  return {
    async listOf(personId: string): Promise<PasskeyRow[]> {
      return db.table('passkeys').where({ person_id: personId }).orderBy('created_at', 'asc').select('*');
    },

    async countOf(personId: string): Promise<number> {
      const row = (await db.table('passkeys').where({ person_id: personId }).count({ n: '*' }).first()) as { n: string | number } | undefined;
      return Number(row?.n ?? 0);
    },

    async byCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
      return db.table('passkeys').where({ credential_id: credentialId }).first('*');
    },

    async insert(row: Omit<PasskeyRow, 'last_used_at'>): Promise<void> {
      await db.table('passkeys').insert(row);
    },

    /** Moves the counter forward and notes the use; false when another use of the same counter won. */
    async used(id: string, fromCounter: number, toCounter: number, at: Date): Promise<boolean> {
      const count = await db.table('passkeys').where({ id, counter: fromCounter }).update({ counter: toCounter, last_used_at: at });
      return count > 0;
    },

    /** Removes one passkey of the person; false when it is not (or no longer) theirs. */
    async remove(personId: string, id: string): Promise<boolean> {
      const count = await db.table('passkeys').where({ person_id: personId, id }).delete();
      return count > 0;
    },

    /**
     * Keeps a new challenge, and only the newest few of the same purpose and binding: asking again
     * and again (a sign-in page left open, a script) stores no more than that per binding.
     */
    async saveChallenge(challenge: string, purpose: ChallengePurpose, boundTo: string, expiresAt: Date): Promise<void> {
      const newest = db
        .table('passkey_challenges')
        .where({ purpose, bound_to: boundTo })
        .orderBy('expires_at', 'desc')
        .limit(KEPT_PER_BINDING - 1)
        .select('challenge');
      await db.table('passkey_challenges').where({ purpose, bound_to: boundTo }).whereNotIn('challenge', newest).delete();
      await db.table('passkey_challenges').insert({ challenge, purpose, bound_to: boundTo, expires_at: expiresAt });
    },

    /** Takes a live challenge for its purpose and binding, once: true for the one caller that took it. */
    async takeChallenge(challenge: string, purpose: ChallengePurpose, boundTo: string, now: Date): Promise<boolean> {
      const rows = await db
        .table('passkey_challenges')
        .where({ challenge, purpose, bound_to: boundTo })
        .where('expires_at', '>', now)
        .delete()
        .returning('challenge');
      return rows.length > 0;
    },

    async sweepChallenges(now: Date): Promise<number> {
      return db.table('passkey_challenges').where('expires_at', '<=', now).delete();
    },
  };
}

export type PasskeyStore = ReturnType<typeof createPasskeyStore>;
