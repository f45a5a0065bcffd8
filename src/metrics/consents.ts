/**
 * Counts the answers people give apps without the consent code knowing about metrics: the web
 * consent (authorizations.allow / deny) and the device flow (its approved / declined hooks,
 * counted under the name of the feature that rides on it) are wrapped so a completed answer moves
 * `carevault_consents_total`. A refused or failed answer (already answered, expired) is not counted.
 */
import type { DeviceFlowOwner, Services } from '../compose';
import type { DeviceFlowHooks } from '../oidc/device-flow';
import type { Metrics } from './registry';

export function countConsents(services: Services, metrics: Metrics): Services {
  const { authorizations } = services;
  return {
    ...services,
    authorizations: {
      ...authorizations,
      async allow(...args: Parameters<typeof authorizations.allow>) {
        const next = await authorizations.allow(...args);
        metrics.consent('web', 'allowed');
        return next;
      },
      async deny(...args: Parameters<typeof authorizations.deny>) {
        const next = await authorizations.deny(...args);
        metrics.consent('web', 'denied');
        return next;
      },
    },
  };
}

export function countDeviceFlowConsents({ feature, hooks }: DeviceFlowOwner, metrics: Metrics): DeviceFlowHooks {
  return {
    ...hooks,
    async approved(...args: Parameters<DeviceFlowHooks['approved']>) {
      const approved = await hooks.approved(...args);
      if (approved) metrics.consent(feature, 'allowed');
      return approved;
    },
    async declined(...args: Parameters<DeviceFlowHooks['declined']>) {
      await hooks.declined(...args);
      metrics.consent(feature, 'denied');
    },
  };
}
