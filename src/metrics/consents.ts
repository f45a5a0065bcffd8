/**
 * Counts the answers people give apps without the consent code knowing about metrics: the web
 * consent (authorizations.allow / deny) and Patient Connect (the device flow's approved / declined
 * hooks) are wrapped so a completed answer moves `carevault_consents_total`. A refused or failed
 * answer (already answered, expired) is not counted.
 */
import type { Services } from '../compose';
import type { Metrics } from './registry';

export function countConsents(services: Services, metrics: Metrics): Services {
  const { authorizations, connectHooks } = services;
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
    connectHooks: {
      ...connectHooks,
      async approved(...args: Parameters<typeof connectHooks.approved>) {
        const approved = await connectHooks.approved(...args);
        if (approved) metrics.consent('connect', 'allowed');
        return approved;
      },
      async declined(...args: Parameters<typeof connectHooks.declined>) {
        await connectHooks.declined(...args);
        metrics.consent('connect', 'denied');
      },
    },
  };
}
