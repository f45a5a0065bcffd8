/**
 * Direct messaging as one service: records' addresses, delivering
 * messages (delivery.ts) and reading inboxes (inbox.ts). Knows nothing of HTTP or SMTP.
 */
import type { AppNames } from '../apps/names';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import type { RecordEvents } from '../record-events';
import type { RecordRepositories } from '../fhir/repository';
import { isUuid } from '../ids';
import type { Limit } from '../security/limiters';
import type { AddressBook } from './address-book';
import { createDelivery } from './delivery';
import { createInbox } from './inbox';
import type { DirectStore } from './store';

type Deps = {
  db: Database;
  store: DirectStore;
  addresses: AddressBook;
  audit: AuditLog;
  repositories: RecordRepositories;
  appNames: AppNames;
  /** Messages to addresses that do not exist, per sender. */
  unknownRecipients: Limit;
  recordEvents: Pick<RecordEvents, 'tell'>;
};

export function createDirectService({ db, store, addresses, audit, repositories, appNames, unknownRecipients, recordEvents }: Deps) {
  return {
    /** Each record's Direct address (given on first need). */
    addressesOf: addresses.addressesOf,

    /**
     * Where a reply to a message goes: the member's Direct address it came from, while that address
     * still leads to a record. Apps cannot receive Direct messages at carevault (they send through
     * the API or SMTP and have no inbox), so a message from an app has no reply address.
     */
    async replyTo(recordId: string, messageId: string): Promise<{ address: string; subject: string } | undefined> {
      const message = isUuid(messageId) ? await store.message(recordId, messageId) : undefined;
      if (!message || message.sender_kind !== 'person' || !message.sender_address) return undefined;
      return (await addresses.recordOf(message.sender_address)) ? { address: message.sender_address, subject: message.subject } : undefined;
    },
    ...createDelivery({ db, store, addresses, audit, appNames, unknownRecipients, recordEvents }),
    ...createInbox({ db, store, audit, repositories }),
  };
}

export type DirectService = ReturnType<typeof createDirectService>;
