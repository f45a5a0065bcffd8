/**
 * The person's account as a feature: a verification link mailed to every new person, and a word to
 * the owner of an email someone tried to register again (both handed over by the account service
 * after the registration was answered, and handed again until they went out), the account page (name, email, password,
 * signed-in devices — noted on each signed-in request, and whether to email the person when a Direct
 * message arrives, heard as a record event), and password recovery —
 * through the one mailer DOPU uses too — with its limits, a sweep of ended links, and its audit words;
 * and closing the account (closing.ts), which erases the records only the person looks after;
 * two-step sign-in (an authenticator app, passkeys, recovery codes) offered to sign-in as its second step.
 */
import express from 'express';
import type { Core, FeatureDefinition } from '../feature';
import { createAccountChanges } from './changes';
import { createAccountClosing } from './closing';
import { accountClosingRoutes } from './closing-routes';
import { CLOSING_WORDS } from './closing-words';
import { accountPageRoutes } from './routes';
import { createAccountLinks } from './service';
import { createMessageMail } from './message-mail';
import { createLinkStore, createMessageMailStore } from './store';
import { createTwoStep } from './two-step';
import { createTwoStepStore } from './two-step-store';
import { createPasskeys } from './passkeys';
import { createPasskeyStore } from './passkey-store';
import { createPasswordConfirmation } from './password-confirm';
import { createServerKeys } from './server-keys';
import { ACCOUNT_WORDS } from './words';

type AccountDeps = Pick<Core, 'config' | 'db' | 'audit' | 'accounts' | 'authorizations' | 'oidcStorage' | 'records' | 'limits' | 'mailer' | 'recordEvents'>;

/** The time every link's expiry is judged by. */
const clock = () => new Date();

export const accountFeature: FeatureDefinition = {
  name: 'account',
  auditWords: { ...ACCOUNT_WORDS, ...CLOSING_WORDS },
  build({ config, db, audit, accounts, authorizations, oidcStorage, records, limits, mailer, recordEvents }: AccountDeps) {
    const store = createLinkStore(db);
    const serverKeys = createServerKeys();
    const passkeyStore = createPasskeyStore(db);
    const confirmPassword = createPasswordConfirmation({ accounts, limit: limits.lock('password-change-person') });
    const twoStep = createTwoStep({
      db,
      audit,
      store: createTwoStepStore(db),
      limit: limits.lock('two-step-person'),
      issuerName: 'carevault',
      clock,
      sealing: serverKeys.sealingFor('two-step'),
      passkeyCount: (personId) => passkeyStore.countOf(personId),
      confirmPassword,
    });
    const passkeys = createPasskeys({ db, audit, store: passkeyStore, twoStep, issuer: config.issuer, clock, confirmPassword });
    // The second step as sign-in, a reset and closing ask for it: a code, or a passkey.
    const secondStep = { isOn: twoStep.isOn, check: twoStep.check, passkeys: passkeys.signIn };
    accounts.useSecondStep(secondStep);
    const links = createAccountLinks({
      db,
      audit,
      accounts,
      authorizations,
      oidcStorage,
      records,
      links: store,
      mailer,
      issuer: config.issuer,
      clock,
      limits: {
        resend: limits.rate('verify-resend-person'),
        recoverAddress: limits.rate('recover-address'),
        recoverEmail: limits.rate('recover-email'),
        emailTaken: limits.rate('register-taken-person'),
      },
      secondStep,
    });
    // Each registration's mail, sent after the registration was answered; a mail that did not go out is tried again.
    accounts.onRegistrationMail((mail) => (mail.kind === 'registered' ? links.mailVerification(mail.person) : links.mailEmailTaken(mail.person)));
    const changes = createAccountChanges({
      db,
      audit,
      accounts,
      authorizations,
      oidcStorage,
      links: store,
      mailer,
      issuer: config.issuer,
      clock,
      limits: { password: limits.lock('password-change-person'), emailChange: limits.rate('email-change-person') },
    });
    // Closing asks again for the second step of a person who has one.
    const closing = createAccountClosing({
      db,
      audit,
      records,
      accounts,
      authorizations,
      oidcStorage,
      limit: limits.lock('account-close-person'),
      secondStep,
    });
    const messageMail = createMessageMail({
      db,
      audit,
      store: createMessageMailStore(db),
      records,
      mailer,
      issuer: config.issuer,
      limit: limits.rate('message-mail-person'),
    });
    recordEvents.listen((event) => messageMail.heard(event));
    const sealFor = serverKeys.sealingFor('codes');
    return {
      afterProvider({ cookieKeys }) {
        serverKeys.use([...(config.keyEncryptionSecret ? [config.keyEncryptionSecret] : []), ...cookieKeys]);
        return {
          routes: ({ csrf }) =>
            express
              .Router()
              .use(
                accountPageRoutes({ links, changes, messageMail, twoStep, passkeys, csrf, secure: config.secure, sealFor }),
                accountClosingRoutes({ closing, csrf }),
              ),
          sessionSeen: (visit) => changes.seen(visit),
          sweeps: [
            { name: 'accountLinks', run: () => store.sweep(clock()) },
            { name: 'passkeyChallenges', run: () => passkeys.sweep() },
          ],
        };
      },
    };
  },
};
