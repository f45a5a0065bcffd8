/**
 * Direct messaging as one service: records' addresses, delivering
 * messages (delivery.ts) and reading inboxes (inbox.ts). Knows nothing of HTTP or SMTP.
 */
import type { AppNames } from '../apps/names';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import type { RecordRepositories } from '../fhir/repository';
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
};

export function createDirectService({ db, store, addresses, audit, repositories, appNames, unknownRecipients }: Deps) {
  return {
    /** Each record's Direct address (given on first need). */
    addressesOf: addresses.addressesOf,
    ...createDelivery({ db, store, addresses, audit, appNames, unknownRecipients }),
    ...createInbox({ db, store, audit, repositories }),
  };
}

export type DirectService = ReturnType<typeof createDirectService>;
