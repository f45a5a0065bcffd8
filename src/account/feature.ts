/**
 * The person's account as a feature: a verification link mailed to every new person (told by the
 * account service after their registration commits), the account page (name, email, password,
 * signed-in devices — noted on each signed-in request, and whether to email the person when a Direct
 * message arrives, heard as a record event), and password recovery —
 * through the one mailer DOPU uses too — with its limits, a sweep of ended links, and its audit words;
 * and closing the account (closing.ts), which erases the records only the person looks after.
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
import { ACCOUNT_WORDS } from './words';

type AccountDeps = Pick<Core, 'config' | 'db' | 'audit' | 'accounts' | 'authorizations' | 'oidcStorage' | 'records' | 'limits' | 'mailer' | 'recordEvents'>;

/** The time every link's expiry is judged by. */
const clock = () => new Date();

export const accountFeature: FeatureDefinition = {
  name: 'account',
  auditWords: { ...ACCOUNT_WORDS, ...CLOSING_WORDS },
  build({ config, db, audit, accounts, authorizations, oidcStorage, records, limits, mailer, recordEvents }: AccountDeps) {
    const store = createLinkStore(db);
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
      limits: { resend: limits.rate('verify-resend-person'), recoverAddress: limits.rate('recover-address'), recoverEmail: limits.rate('recover-email') },
    });
    accounts.onRegistered((person) => links.sendVerification(person));
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
    const closing = createAccountClosing({ db, audit, records, accounts, authorizations, oidcStorage, limit: limits.lock('account-close-person') });
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
    return {
      afterProvider() {
        return {
          routes: ({ csrf }) =>
            express.Router().use(accountPageRoutes({ links, changes, messageMail, csrf, secure: config.secure }), accountClosingRoutes({ closing, csrf })),
          sessionSeen: (visit) => changes.seen(visit),
          sweeps: [{ name: 'accountLinks', run: () => store.sweep(clock()) }],
        };
      },
    };
  },
};
