/**
 * The address book: gives each record its Direct address the first time it is needed
 * (a page listing it, a message to it can only follow) and finds the record of an address. An
 * address, once given, never changes — not when the Patient is renamed, not when the domain
 * setting changes (only the part after @ follows the setting). Racing creations converge without a
 * lock: the table's unique keys pick one winner and the others read it.
 */
import { candidate, firstFree, formatAddress, localPartBase, localPartOf } from './addresses';
import type { DirectStore } from './store';

/** A record as the address book needs it: its id and its person's name. */
export type NamedRecord = { id: string; name: string };

/** More attempts than racing requests would ever need; past this something else is wrong. */
const MAX_ATTEMPTS = 50;

export function createAddressBook(store: DirectStore, domain: string) {
  async function give(record: NamedRecord): Promise<string> {
    const base = localPartBase(record.name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const taken = new Set(await store.localPartsStartingWith(base));
      const localPart = candidate(base, firstFree(base, taken));
      if (await store.insertAddress(record.id, localPart)) return localPart;
      // Either this record got an address from a racing request, or another record took this one.
      const [mine] = await store.addressesOf([record.id]);
      if (mine) return mine.local_part;
    }
    throw new Error(`no Direct address could be given to record ${record.id}`);
  }

  return {
    domain,

    /** Each record's address, `<local>@<domain>`, giving one to records that have none yet. */
    async addressesOf(records: readonly NamedRecord[]): Promise<ReadonlyMap<string, string>> {
      const known = new Map((await store.addressesOf(records.map((record) => record.id))).map((row) => [row.record_id, row.local_part]));
      for (const record of records) {
        if (!known.has(record.id)) known.set(record.id, await give(record));
      }
      return new Map([...known].map(([recordId, localPart]) => [recordId, formatAddress(localPart, domain)]));
    },

    /** The record an address at this domain belongs to. */
    async recordOf(address: string): Promise<string | undefined> {
      const localPart = localPartOf(address, domain);
      return localPart ? store.recordOfLocalPart(localPart) : undefined;
    },
  };
}

export type AddressBook = ReturnType<typeof createAddressBook>;
