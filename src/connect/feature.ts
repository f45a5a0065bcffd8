/**
 * Patient Connect as a feature: its service, the device flow hooks the OpenID core calls (built
 * before the provider starts), then the secret-question prompt page, the app API, the sweep that
 * marks requests past their days expired, its audit words and its metric gauge.
 */
import type { Core, FeatureDefinition } from '../feature';
import { connectApiOperations } from './api-routes';
import { connectDeviceHooks } from './device-hooks';
import { connectRoutes } from './routes';
import { createConnectService } from './service';
import { CONNECT_STATUSES } from './schemas';
import { createConnectStore } from './store';
import { CONNECT_WORDS } from './words';

type ConnectDeps = Pick<Core, 'config' | 'db' | 'audit' | 'records' | 'accounts' | 'authorizations' | 'oidcStorage' | 'appNames' | 'limits'>;

export const connectFeature: FeatureDefinition = {
  name: 'connect',
  auditWords: CONNECT_WORDS,
  build({ config, db, audit, records, accounts, authorizations, oidcStorage, appNames, limits }: ConnectDeps) {
    const connect = createConnectService({
      db,
      audit,
      authorizationOfGrant: (grantId) => authorizations.findByGrant(grantId),
      endDeviceCode: (deviceCodeKey) => oidcStorage.endDeviceCode(deviceCodeKey),
      pollInterval: config.connectPollInterval,
    });
    const deviceFlow = connectDeviceHooks({
      connect,
      async approvedBy(accountId, deviceCode, grantId) {
        const person = await accounts.findPerson(accountId);
        const approved = person ? await connect.approved(deviceCode, grantId, person) : undefined;
        return approved && { recordName: (await records.recordFor(accountId, approved.recordId)).name, collectUntil: approved.collectUntil };
      },
      codeGuesses: limits.lock('connect-code-address'),
      pollInterval: config.connectPollInterval,
    });
    const requests = createConnectStore(db);
    return {
      deviceFlow,
      afterProvider: ({ interactions }) => {
        const pages = connectRoutes({ connect, interactions, appNames });
        return {
          routes: pages.routes,
          prompts: pages.prompts,
          api: connectApiOperations(connect),
          sweeps: [{ name: 'connectRequests', run: () => connect.sweep() }],
          gauges: [{ name: 'carevault_connect_requests', help: 'Patient Connect requests stored, by status.', statuses: CONNECT_STATUSES, count: () => requests.countByStatus() }],
        };
      },
    };
  },
};
