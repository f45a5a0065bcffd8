/**
 * Direct messaging as a feature: its services built on the core ones it names, its routes (the app
 * API and /inbox), the SMTP receiver as a listener when DIRECT_SMTP_PORT is set, each record's
 * Direct address as a record panel, and its audit words.
 */
import type { Core, FeatureDefinition } from '../feature';
import { createAddressBook } from './address-book';
import { directApiOperations } from './api-routes';
import { directRoutes } from './routes';
import { createDirectService } from './service';
import { smtpListener } from './smtp';
import { createSmtpSignIn } from './smtp-sign-in';
import { createDirectStore } from './store';
import { DIRECT_NEWS, DIRECT_WORDS } from './words';

type DirectDeps = Pick<Core, 'config' | 'db' | 'audit' | 'repositories' | 'records' | 'oidcStorage' | 'appNames' | 'limits' | 'recordEvents'>;

export const directFeature: FeatureDefinition = {
  name: 'direct',
  auditWords: DIRECT_WORDS,
  auditNews: DIRECT_NEWS,
  build({ config, db, audit, repositories, records, oidcStorage, appNames, limits, recordEvents }: DirectDeps) {
    const store = createDirectStore(db);
    const addresses = createAddressBook(store, config.direct.domain);
    const direct = createDirectService({
      db,
      store,
      addresses,
      audit,
      repositories,
      appNames,
      unknownRecipients: limits.lock('direct-unknown-recipient'),
      recordEvents,
    });
    const smtp = config.direct.smtpPort
      ? smtpListener({
          port: config.direct.smtpPort,
          hostname: config.direct.domain,
          tls: config.direct.tls,
          direct,
          signIn: createSmtpSignIn({ limits, authenticateApp: (clientId, secret) => oidcStorage.authenticateApp(clientId, secret) }),
        })
      : undefined;
    return {
      // Mail to a record can arrive the moment it exists: its address is given in the same transaction.
      recordOpened: async (record) => {
        await addresses.addressesOf([record]);
      },
      afterProvider: () => ({
        routes: ({ csrf }) => directRoutes({ records, repositories, direct, csrf }),
        api: directApiOperations(direct),
        listeners: smtp ? [smtp] : [],
        // Deleted messages are kept for Undo, then removed with their attachments.
        sweeps: [{ name: 'directDeleted', run: () => direct.purgeDeleted() }],
        // Unread messages across the person's inboxes, beside Inbox in the navigation.
        unread: [{ href: '/inbox', count: async (recordIds) => [...(await direct.unreadCounts(recordIds)).values()].reduce((sum, n) => sum + n, 0) }],
        recordPanels: [
          {
            heading: 'Direct address',
            async entries(held) {
              const byRecord = await direct.addressesOf(held);
              return new Map([...byRecord].map(([recordId, address]) => [recordId, { text: address, href: `/inbox/${recordId}` }]));
            },
          },
        ],
      }),
    };
  },
};
