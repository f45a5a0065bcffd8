/**
 * What the Patient Connect app API accepts and answers (the same schemas check requests and make
 * the OpenAPI document). Lists page by the app APIs' one contract (`limit`, `cursor`, absolute
 * `next`); `count`, the list's earlier name for `limit` (1–200), is still read for one release.
 */
import { z } from 'zod';
import { listQuery, nextLink, sinceFilter, statusFilter } from '../api/paging';

/**
 * A request's states as its app sees them: `pending` (nobody has entered its code yet), `opened`
 * (someone entered the code and has not finished), `authorized`, `denied`, `locked` (3 wrong
 * answers), `expired`, `withdrawn` (by the app).
 */
export const CONNECT_STATUSES = ['pending', 'opened', 'authorized', 'denied', 'locked', 'expired', 'withdrawn'] as const;

const MAX_OLD_COUNT = 200;

export const requestListQuery = listQuery({
  status: statusFilter(CONNECT_STATUSES, 'Only requests in this status.'),
  since: sinceFilter('Only requests whose status changed (created, opened, authorized or ended) at or after this time.'),
  count: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_OLD_COUNT, `must be at most ${MAX_OLD_COUNT}`)
    .optional()
    .meta({
      description: `The earlier name of \`limit\` (1–${MAX_OLD_COUNT}), read for one more release and used instead of \`limit\` when sent. Use \`limit\`.`,
      param: { deprecated: true },
    }),
});

export const requestId = z.strictObject({ id: z.string().meta({ description: 'The connect request’s id, from the list.', format: 'uuid' }) });

const instant = z.iso.datetime({ offset: true });

/** A connect request as its app sees it (never the question's answer). */
export const connectRequest = z
  .strictObject({
    id: z.uuid(),
    external_id: z.string().meta({ description: 'The app’s own reference, as given at the device authorization endpoint.' }),
    status: z.enum(CONNECT_STATUSES).meta({
      description:
        '`pending`: nobody has entered the identity code yet; `opened`: someone entered it and has not finished (entering it again carries on); ' +
        '`authorized`: the person allowed, the tokens can be collected; `denied`: the person declined; `locked`: the secret question was answered ' +
        'wrongly 3 times; `expired`: not used within 28 days; `withdrawn`: the app withdrew it.',
    }),
    patient: z.uuid().optional().meta({ description: 'The record the person chose, once authorized: the `patient` of the tokens the app collects.' }),
    created_at: instant,
    expires_at: instant,
    opened_at: instant.optional().meta({ description: 'When someone first entered the identity code.' }),
    authorized_at: instant.optional(),
  })
  .meta({ id: 'ConnectRequest' });

export const requestList = z.strictObject({ requests: z.array(connectRequest), next: nextLink }).meta({ id: 'ConnectRequestList' });
