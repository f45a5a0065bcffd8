/**
 * Direct messaging as a carevault feature (issue 12): its services built once on the shared ones,
 * its routes (API and /inbox), the SMTP receiver as a listener when DIRECT_SMTP_PORT is set, and
 * each record's address for the /records page.
 */
import type { Feature, Services } from '../compose';
import { createLimit } from '../security/rate-limits';
import { createAddressBook } from './address-book';
import { directRoutes } from './routes';
import { createDirectService } from './service';
import { smtpListener } from './smtp';
import { createDirectStore } from './store';

export function directFeature(services: Services): Feature {
  const { config, db, audit, repositories, records, oidcStorage, gate } = services;
  const store = createDirectStore(db);
  const addresses = createAddressBook(store, config.direct.domain);
  const direct = createDirectService({ db, store, addresses, audit, repositories, appNames: (ids) => oidcStorage.appNames(ids) });

  const { failuresPerAccount, failuresPerAddress, lockDuration } = config.signIn;
  const smtp = config.direct.smtpPort
    ? smtpListener({
        port: config.direct.smtpPort,
        hostname: config.direct.domain,
        tls: config.direct.tls,
        direct,
        authenticateApp: (clientId, secret) => oidcStorage.authenticateApp(clientId, secret),
        limits: {
          perApp: createLimit(db, { prefix: 'direct-smtp-app', points: failuresPerAccount, duration: lockDuration, lockDuration, message: 'Too many failed sign-ins for this app.' }),
          perAddress: createLimit(db, { prefix: 'direct-smtp-address', points: failuresPerAddress, duration: lockDuration, lockDuration, message: 'Too many failed sign-ins from your network.' }),
        },
      })
    : undefined;

  return {
    name: 'direct',
    routes: ({ csrf }) => directRoutes({ gate, records, direct, csrf }),
    listeners: smtp ? [smtp] : [],
    recordAddresses: (held) => direct.addressesOf(held),
  };
}
