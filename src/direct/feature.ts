/**
 * Direct messaging as a carevault feature (issue 12): its services built once on the shared ones,
 * its routes (API and /inbox), the SMTP receiver as a listener when DIRECT_SMTP_PORT is set, and
 * each record's address for the /records page.
 */
import type { Feature, Services } from '../compose';
import { createAddressBook } from './address-book';
import { directApiOperations } from './api-routes';
import { directRoutes } from './routes';
import { createDirectService } from './service';
import { smtpListener } from './smtp';
import { createSmtpSignIn } from './smtp-sign-in';
import { createDirectStore } from './store';

export function directFeature(services: Services): Feature {
  const { config, db, audit, repositories, records, oidcStorage } = services;
  const store = createDirectStore(db);
  const addresses = createAddressBook(store, config.direct.domain);
  const direct = createDirectService({ db, store, addresses, audit, repositories, appNames: (ids) => oidcStorage.appNames(ids) });

  const smtp = config.direct.smtpPort
    ? smtpListener({
        port: config.direct.smtpPort,
        hostname: config.direct.domain,
        tls: config.direct.tls,
        direct,
        signIn: createSmtpSignIn({ db, config, authenticateApp: (clientId, secret) => oidcStorage.authenticateApp(clientId, secret) }),
      })
    : undefined;

  return {
    name: 'direct',
    routes: ({ csrf }) => directRoutes({ records, direct, csrf }),
    api: directApiOperations(direct),
    listeners: smtp ? [smtp] : [],
    recordAddresses: (held) => direct.addressesOf(held),
  };
}
