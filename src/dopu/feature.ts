/**
 * DOPU as a feature of the server (ARCHITECTURE.md "How to add…"): its services built on the
 * shared ones, its routes, and its sweep, for composeFeatures in src/compose.ts.
 */
import path from 'node:path';
import type { Feature, Services } from '../compose';
import { loadServerSecret } from '../oidc/keys';
import type { OidcRuntime } from '../oidc/runtime';
import { dopuApiOperations } from './api-routes';
import { createMailer } from './mail';
import { createPickupService } from './pickup';
import { dopuRoutes } from './routes';
import { createPackageKeys } from './sealing';
import { createDopuService } from './service';
import { createTicketSealer } from './ticket';

/** The name of the package-key pepper among the server's secrets (shared by every instance). */
export const PEPPER_SECRET = 'dopu_pepper';

export function dopuFeature(services: Services, oidc: OidcRuntime, clock: () => Date = () => new Date()): Feature {
  const { config, db, audit, repositories, records, oidcStorage } = services;
  const appNames = (ids: readonly string[]) => oidcStorage.appNames(ids);
  const [serverSecret] = oidc.cookieKeys;
  if (!serverSecret) throw new Error('DOPU needs a cookie key to seal pickup tickets');
  const mailer = createMailer({ smtpUrl: config.mail.smtpUrl, outboxDir: path.join(config.dataDir, 'outbox'), from: config.mail.from });
  // Read once, on the first drop-off or answer (both outside any transaction); a failed read is
  // tried again on the next.
  let pepper: Promise<Buffer> | undefined;
  const loadPepper = () =>
    (pepper ??= loadServerSecret(db, PEPPER_SECRET, config.keyEncryptionSecret).then(
      (value) => Buffer.from(value, 'utf8'),
      (error: unknown) => {
        pepper = undefined;
        throw error;
      },
    ));
  const keys = createPackageKeys(loadPepper);
  const packages = createDopuService({ db, audit, mailer, keys, appNames, issuer: config.issuer, clock, emailsPerApp: config.pickupEmailsPerApp });
  const pickup = createPickupService({
    db,
    audit,
    repositories,
    records,
    packages,
    tickets: createTicketSealer(serverSecret, clock),
    keys,
    appNames,
    clock,
    codeFailuresPerAddress: config.pickupCodeFailuresPerAddress,
    wrongAnswersPerPerson: config.pickupWrongAnswersPerPerson,
  });
  return {
    name: 'dopu',
    routes: ({ csrf }) => dopuRoutes({ pickup, records, csrf }),
    api: dopuApiOperations(packages),
    // Packages past their 28 days are marked expired, which deletes their contents (an ended
    // package keeps none: picked up, declined, locked and withdrawn ones are emptied as they end).
    sweeps: [{ name: 'dopuPackages', run: () => packages.sweep() }],
  };
}
