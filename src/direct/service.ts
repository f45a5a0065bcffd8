/**
 * Direct messaging (issue 12, DESIGN.md "Direct") as one service: records' addresses, delivering
 * messages (delivery.ts) and reading inboxes (inbox.ts). Knows nothing of HTTP or SMTP.
 */
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import type { RecordRepositories } from '../fhir/repository';
import type { AddressBook } from './address-book';
import { createDelivery } from './delivery';
import { createInbox } from './inbox';
import type { DirectStore } from './store';

export type { AppSender, Outgoing, PersonSender, Sender } from './delivery';
export type { InboxMessage, OpenedMessage, Reader } from './inbox';

type Deps = {
  db: Database;
  store: DirectStore;
  addresses: AddressBook;
  audit: AuditLog;
  repositories: RecordRepositories;
  appNames(clientIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
};

export function createDirectService({ db, store, addresses, audit, repositories, appNames }: Deps) {
  return {
    /** Each record's Direct address (given on first need). */
    addressesOf: addresses.addressesOf,
    ...createDelivery({ db, store, addresses, audit, appNames }),
    ...createInbox({ db, store, audit, repositories }),
  };
}

export type DirectService = ReturnType<typeof createDirectService>;
