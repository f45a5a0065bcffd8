/**
 * The Patient Connect app API: `/api/connect/requests` for an app's client-credentials token
 * holding the `connect` capability — which of the app's connect requests were authorized (to
 * collect their tokens), and withdrawing a pending one. (Requests are created at the device
 * authorization endpoint, RFC 8628 §3.1.) Operation table entries (api/operations.ts): the core
 * mounts them behind the bearer gate and describes them in the OpenAPI document.
 */
import { defineOperation, type AppOperation } from '../api/operations';
import { connectRequest, requestId, requestList, requestListQuery } from './schemas';
import type { ConnectService } from './service';

export function connectApiOperations(connect: ConnectService): AppOperation[] {
  return [
    defineOperation({
      id: 'listConnectRequests',
      method: 'get',
      path: '/api/connect/requests',
      capability: 'connect',
      summary: 'List the app’s connect requests',
      description: 'Oldest change first, a page at a time; `status=authorized` lists the requests whose tokens are ready to collect.',
      query: requestListQuery,
      answer: { status: 200, description: 'A page of connect requests.', schema: requestList },
      async handle({ caller, query, nextPage }) {
        const { status, since, cursor, limit, count } = query;
        const page = await connect.list(caller.clientId, { status, since: since ? new Date(since) : undefined, after: cursor, limit: count ?? limit });
        return { body: { requests: page.requests, next: nextPage(page.next) } };
      },
    }),

    defineOperation({
      id: 'withdrawConnectRequest',
      method: 'delete',
      path: '/api/connect/requests/:id',
      capability: 'connect',
      summary: 'Withdraw a pending or opened connect request',
      description: 'Its identity code stops working.',
      params: requestId,
      answer: { status: 200, description: 'The connect request, withdrawn.', schema: connectRequest },
      refusals: [
        { status: 404, description: 'The app has no connect request with this id (`not_found`).' },
        { status: 409, description: 'The connect request is no longer pending or opened (`not_pending`).' },
      ],
      async handle({ caller, params }) {
        return { body: await connect.withdraw(caller.clientId, params.id) };
      },
    }),
  ];
}
