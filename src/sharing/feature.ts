/**
 * Sharing a record with people as a feature: the sharing and invitation pages, the sweep that ends
 * shares whose expiry passed (each with its person's app authorizations; the query-time check in
 * records/store.ts already ended their reach) and old invitations, and its audit words.
 */
import type { Core, FeatureDefinition } from '../feature';
import { sharingRoutes } from './routes';
import { createSharingService } from './service';
import { SHARING_WORDS } from './words';

type SharingDeps = Pick<Core, 'config' | 'db' | 'audit' | 'records' | 'mailer' | 'limits'> & {
  accounts: Pick<Core['accounts'], 'findPerson'>;
  authorizations: Pick<Core['authorizations'], 'accessEnded' | 'accessLowered'>;
};

export const sharingFeature: FeatureDefinition = {
  name: 'sharing',
  auditWords: SHARING_WORDS,
  auditNews: { 'sharing.accepted': 'connection' },
  build({ config, db, audit, records, mailer, limits, accounts, authorizations }: SharingDeps) {
    const sharing = createSharingService({
      invitations: limits.rate('sharing-invitations-person'),
      db,
      audit,
      records,
      findPerson: (id) => accounts.findPerson(id),
      authorizations,
      mailer,
      issuer: config.issuer,
    });
    return {
      afterProvider: () => ({
        routes: ({ csrf }) => sharingRoutes({ sharing, csrf }),
        sweeps: [
          { name: 'sharingExpired', run: () => sharing.endExpired() },
          { name: 'sharingInvitations', run: () => sharing.sweepInvitations() },
        ],
      }),
    };
  },
};
