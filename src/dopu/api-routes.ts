/**
 * The DOPU app API: `/api/dopu/packages` for an app's client-credentials token holding the `dopu`
 * capability — drop a package off, list the app's packages, read one's status (never its
 * contents), withdraw a pending one. Operation table entries (api/operations.ts): the core mounts
 * them behind the bearer gate and describes them in the OpenAPI document.
 */
import { defineOperation, type AppOperation } from '../api/operations';
import { MAX_PACKAGE_BYTES, dropOffBody, dropOffReceipt, packageId, packageList, packageListQuery, packageStatus } from './schemas';
import type { DopuService } from './service';

const NOT_FOUND = { status: 404, description: 'The app has no package with this id (`not_found`).' } as const;

export function dopuApiOperations(packages: DopuService): AppOperation[] {
  return [
    defineOperation({
      id: 'dropOffPackage',
      method: 'post',
      path: '/api/dopu/packages',
      capability: 'dopu',
      summary: 'Drop off a package for a person',
      description: 'The contents are sealed under the answer; the app gets the pickup code to hand over and can never read them again.',
      body: { schema: dropOffBody, maxBytes: MAX_PACKAGE_BYTES, noun: 'the package', tooLarge: 'A package can be at most 5 MB of JSON.' },
      answer: { status: 201, description: 'The package is waiting for its person.', schema: dropOffReceipt },
      refusals: [
        { status: 400, description: 'A resource is not one a record accepts (`invalid_resource`); the description names it, as in `resources[1].status:`.' },
        { status: 429, description: 'The app had too many pickup emails sent this hour (`too_many_requests`).' },
      ],
      async handle({ caller, body }) {
        const receipt = await packages.dropOff(caller.clientId, body);
        return { body: receipt, location: `/api/dopu/packages/${receipt.id}` };
      },
    }),

    defineOperation({
      id: 'listPackages',
      method: 'get',
      path: '/api/dopu/packages',
      capability: 'dopu',
      summary: 'List the app’s packages',
      description: 'Oldest status change first, a page at a time.',
      query: packageListQuery,
      answer: { status: 200, description: 'A page of packages.', schema: packageList },
      async handle({ caller, query, nextPage }) {
        const { status, since, cursor, limit } = query;
        const page = await packages.list(caller.clientId, { status, since: since ? new Date(since) : undefined, after: cursor, limit });
        return { body: { packages: page.packages, next: nextPage(page.next) } };
      },
    }),

    defineOperation({
      id: 'getPackage',
      method: 'get',
      path: '/api/dopu/packages/:id',
      capability: 'dopu',
      summary: 'Read a package’s status',
      params: packageId,
      answer: { status: 200, description: 'Where the package stands.', schema: packageStatus },
      refusals: [NOT_FOUND],
      async handle({ caller, params }) {
        return { body: await packages.status(caller.clientId, params.id) };
      },
    }),

    defineOperation({
      id: 'withdrawPackage',
      method: 'delete',
      path: '/api/dopu/packages/:id',
      capability: 'dopu',
      summary: 'Withdraw a pending package',
      description: 'Its contents are deleted; the pickup code then tells the person the package was withdrawn.',
      params: packageId,
      answer: { status: 200, description: 'The package, withdrawn.', schema: packageStatus },
      refusals: [NOT_FOUND, { status: 409, description: 'The package is no longer pending (`not_pending`).' }],
      async handle({ caller, params }) {
        return { body: await packages.withdraw(caller.clientId, params.id) };
      },
    }),
  ];
}
