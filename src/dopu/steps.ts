/**
 * Where one browser's pickup stands between pages, kept on the server so every pickup form can
 * answer with a redirect and each page can be reloaded or reached with Back: the package a right
 * answer opened, its sealed ticket (never in a URL or a form, where someone else could replay it),
 * the record chosen, and how the pickup ended. A step is bound to the browser (the SHA-256 of a
 * random cookie of the /pickup pages) and to the person signed in there; it lasts as long as a
 * ticket, and the sweep removes it after.
 */
import { createHash } from 'node:crypto';
import type { Database } from '../db';
import { createStepStore, type StepRow } from './store';
import { TICKET_SECONDS } from './ticket';

export type Step = Pick<StepRow, 'package_id' | 'stage' | 'ticket' | 'record_id' | 'notice'>;

const hashOf = (browser: string) => createHash('sha256').update(browser).digest('base64url');

export function createPickupSteps(db: Database, clock: () => Date) {
  const store = createStepStore(db);

  return {
    /** This browser's step for this person, while it lasts. */
    async current(browser: string, personId: string): Promise<Step | undefined> {
      return store.find(hashOf(browser), personId, clock());
    },

    /** A right answer opened `packageId`: the pickup starts over from here, for as long as the ticket. */
    async opened(browser: string, personId: string, packageId: string, ticket: string, recordId: string | undefined): Promise<void> {
      const expires_at = new Date(clock().getTime() + TICKET_SECONDS * 1000);
      await store.put({
        browser_hash: hashOf(browser),
        person_id: personId,
        package_id: packageId,
        stage: 'opened',
        ticket,
        record_id: recordId ?? null,
        notice: null,
        expires_at,
      });
    },

    async chose(browser: string, personId: string, recordId: string): Promise<void> {
      await store.update(hashOf(browser), personId, { record_id: recordId, notice: null });
    },

    /** Notes a refusal to show on the step's page (a record not chosen, say); the step stays where it is. */
    async noted(browser: string, personId: string, notice: string): Promise<void> {
      await store.update(hashOf(browser), personId, { notice });
    },

    /**
     * The pickup ended: picked up, declined, or refused with `notice`; the ticket is of no more use.
     * Only the first ending counts, so a second click on Accept never overwrites a pickup's success.
     */
    async ended(browser: string, personId: string, stage: 'picked_up' | 'declined' | 'refused', notice: string): Promise<void> {
      await store.update(hashOf(browser), personId, { stage, ticket: null, notice });
    },

    /** Runs `work` in one transaction, so an ending is written together with the pickup it records. */
    atomically<T>(work: () => Promise<T>): Promise<T> {
      return db.transaction(work);
    },

    sweep(): Promise<number> {
      return store.sweep(clock());
    },
  };
}

export type PickupSteps = ReturnType<typeof createPickupSteps>;
