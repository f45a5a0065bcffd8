/**
 * DOPU as a feature: its services built on the core ones it names, then — once the OpenID core's
 * cookie key is there to seal pickup tickets — its routes (the app API and /pickup), the sweep that
 * expires packages past their days and the one that ends pickup steps, its audit words and its metric gauge.
 */
import type { Core, FeatureDefinition } from '../feature';
import { loadServerSecret } from '../oidc/keys';
import { dopuApiOperations } from './api-routes';
import { createPickupService } from './pickup';
import { dopuRoutes } from './routes';
import { PACKAGE_STATUSES } from './schemas';
import { createPackageKeys } from './sealing';
import { createPickupSteps } from './steps';
import { createDopuService } from './service';
import { createPackageStore } from './store';
import { createTicketSealer } from './ticket';
import { DOPU_NEWS, DOPU_WORDS } from './words';

/** The name of the package-key pepper among the server's secrets (shared by every instance). */
export const PEPPER_SECRET = 'dopu_pepper';

type DopuDeps = Pick<Core, 'config' | 'db' | 'audit' | 'repositories' | 'records' | 'appNames' | 'limits' | 'mailer'>;

/** The time every expiry is judged by. */
const clock = () => new Date();

export const dopuFeature: FeatureDefinition = {
  name: 'dopu',
  auditWords: DOPU_WORDS,
  auditNews: DOPU_NEWS,
  build({ config, db, audit, repositories, records, appNames, limits, mailer }: DopuDeps) {
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
    const packages = createDopuService({ db, audit, mailer, keys, appNames, issuer: config.issuer, clock, emails: limits.rate('pickup-email-app') });
    const store = createPackageStore(db);
    return {
      afterProvider({ cookieKeys }) {
        const [serverSecret] = cookieKeys;
        if (!serverSecret) throw new Error('DOPU needs a cookie key to seal pickup tickets');
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
          codeGuesses: limits.lock('pickup-code-address'),
          wrongAnswers: limits.lock('pickup-answer-person'),
        });
        const steps = createPickupSteps(db, clock);
        return {
          routes: ({ csrf }) => dopuRoutes({ pickup, steps, records, csrf, secure: config.secure }),
          api: dopuApiOperations(packages),
          // Packages past their days are marked expired, which deletes their contents (an ended
          // package keeps none: picked up, declined, locked and withdrawn ones are emptied as they end).
          sweeps: [
            { name: 'dopuPackages', run: () => packages.sweep() },
            // A pickup step outlives its ticket by nothing: past it, the pages start again at the code.
            { name: 'dopuPickupSteps', run: () => steps.sweep() },
          ],
          gauges: [
            { name: 'carevault_dopu_packages', help: 'DOPU packages stored, by status.', statuses: PACKAGE_STATUSES, count: () => store.countByStatus() },
          ],
        };
      },
    };
  },
};
