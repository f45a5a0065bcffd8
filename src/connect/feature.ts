/**
 * Patient Connect as a feature of the server: the secret-question prompt page, the app API and
 * the sweep that marks requests past their 28 days expired. (The connect service itself is built
 * with the core services: the OpenID core's device flow needs it before the provider starts.)
 */
import type { Feature, Services } from '../compose';
import type { OidcRuntime } from '../oidc/runtime';
import { connectApiOperations } from './api-routes';
import { connectRoutes } from './routes';

export function connectFeature(services: Services, oidc: OidcRuntime): Feature {
  const { connect, oidcStorage } = services;
  const pages = connectRoutes({
    connect,
    interactions: oidc.interactions,
    appName: async (clientId) => (await oidcStorage.appNames([clientId])).get(clientId) ?? clientId,
  });
  return {
    name: 'connect',
    routes: pages.routes,
    prompts: pages.prompts,
    api: connectApiOperations(connect),
    sweeps: [{ name: 'connectRequests', run: () => connect.sweep() }],
  };
}
