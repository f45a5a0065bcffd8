/**
 * The bench's change-notification endpoint: a FHIR Subscription (filtered on Observation) for the
 * first person's record, posting to an HTTP server in the bench's own process on 127.0.0.1, which
 * notes for each event how long after the change it arrived (the SubscriptionStatus's event
 * timestamp to its receipt). Measured while the FHIR create load writes to that record: the lag
 * of every event, and how long the queue took to drain once the load stopped.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type NotificationLag = { events: number; p50Ms: number; p99Ms: number; drainedInSeconds: number | null };

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

type Parameter = { name: string; part?: { name: string; valueInstant?: string }[] };

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

/** Subscribes with the person's token and starts receiving; throws when the subscription does not become active. */
export async function subscribe(issuer: string, accessToken: string) {
  const lags: number[] = [];
  let lastAt = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const now = Date.now();
      const bundle = JSON.parse(body) as { entry: { resource: { parameter: Parameter[] } }[] };
      for (const parameter of bundle.entry[0]?.resource.parameter ?? []) {
        const timestamp = parameter.name === 'notification-event' ? parameter.part?.find((part) => part.name === 'timestamp')?.valueInstant : undefined;
        if (timestamp) {
          lags.push(now - Date.parse(timestamp));
          lastAt = now;
        }
      }
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fhir = (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${issuer}/fhir${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/fhir+json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  const created = await fhir('/Subscription', {
    body: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Bench',
      criteria: `${issuer}/fhir/SubscriptionTopic/record-changed`,
      _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: 'Observation?' }] },
      channel: {
        type: 'rest-hook',
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bench`,
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
      },
    },
  });
  if (created.status !== 201) throw new Error(`the bench Subscription was refused: ${created.status} ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  for (let tries = 0; ; tries += 1) {
    const status = ((await (await fhir(`/Subscription/${id}`)).json()) as { status: string }).status;
    if (status === 'active') break;
    if (tries > 100) throw new Error(`the bench Subscription stayed ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  /** How many Observations the record holds (the events a load makes are the difference). */
  const observations = async () => ((await (await fhir('/Observation?_summary=count')).json()) as { total: number }).total;

  return {
    observations,
    /** Waits (up to `seconds`) for `expected` events after the load ended at `endedAt`, then tells the lag. */
    async lag(expected: number, endedAt: number, seconds: number): Promise<NotificationLag> {
      const until = Date.now() + seconds * 1000;
      while (lags.length < expected && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
      const sorted = [...lags].sort((a, b) => a - b);
      return {
        events: lags.length,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        drainedInSeconds: lags.length >= expected ? Math.max(0, lastAt - endedAt) / 1000 : null,
      };
    },
    async close() {
      await fhir(`/Subscription/${id}`, { method: 'DELETE' });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
