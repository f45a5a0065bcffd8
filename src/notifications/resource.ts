/**
 * The Subscription resource as apps write and read it, and the notifications carevault sends: R4
 * Subscriptions under the R5 Backport IG (topic-based, `backport-subscription` profile). One topic,
 * `<ISSUER>/fhir/SubscriptionTopic/record-changed`, filtered by resource type in the IG's search
 * form (`Observation?`); channel `rest-hook` only; payload `id-only` or `empty` — never full
 * content, so a notification never carries what the person may later withdraw. Pure functions.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html
 */
import { z } from 'zod';
import { InvalidResource } from '../fhir/errors';
import { isRecordType, type RecordType } from '../rules/catalogue';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const FILTER_CRITERIA = `${BACKPORT}/backport-filter-criteria`;
const PAYLOAD_CONTENT = `${BACKPORT}/backport-payload-content`;
const HEARTBEAT_PERIOD = `${BACKPORT}/backport-heartbeat-period`;
const PROFILE = `${BACKPORT}/backport-subscription`;
const STATUS_PROFILE = `${BACKPORT}/backport-subscription-status-r4`;
const CAPABILITY_TOPIC = `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`;

export type SubscriptionStatus = 'requested' | 'active' | 'error' | 'off';
export const SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ['requested', 'active', 'error', 'off'];
export type PayloadContent = 'id-only' | 'empty';

/** The topic's canonical URL on this server. */
function topicUrl(fhirBase: string): string {
  return `${fhirBase}/SubscriptionTopic/record-changed`;
}

/** What an app asked for, checked: everything carevault keeps of a Subscription besides its state. */
export type SubscriptionRequest = {
  reason: string;
  endpoint: URL;
  headers: string[];
  content: PayloadContent;
  filterType: RecordType | undefined;
  heartbeatSeconds: number | undefined;
};

const extension = z.object({ url: z.string() }).passthrough();
const extensions = z.array(extension).max(20).optional();

const subscriptionSchema = z
  .object({
    resourceType: z.literal('Subscription', { message: 'must be Subscription' }),
    id: z.string().optional(),
    meta: z.unknown().optional(),
    status: z.string().optional(),
    reason: z.string().max(500).optional(),
    end: z.string().optional(),
    criteria: z.string().max(500),
    _criteria: z.object({ extension: extensions }).passthrough().optional(),
    channel: z
      .object({
        extension: extensions,
        type: z.string(),
        endpoint: z.string().max(2000).optional(),
        payload: z.string().max(100).optional(),
        _payload: z.object({ extension: extensions }).passthrough().optional(),
        header: z.array(z.string().max(2000)).max(10).optional(),
      })
      .passthrough(),
  })
  .passthrough();

/** `Name: value` with a token name and no line breaks (RFC 9110 §5). */
const HEADER = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*$/;

function valueOf(list: readonly { url: string }[] | undefined, url: string, key: string): unknown {
  return (list?.find((item) => item.url === url) as Record<string, unknown> | undefined)?.[key];
}

/**
 * A Subscription body checked against what carevault delivers; InvalidResource (400) names what
 * is wrong. `allowPrivate`: `http` endpoints are accepted too (internal hosts are judged apart).
 */
export function parseSubscription(body: unknown, fhirBase: string, allowPrivate: boolean): SubscriptionRequest {
  const parsed = subscriptionSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'Subscription';
    throw new InvalidResource(`Subscription.${where} ${issue?.message ?? 'is not valid'}.`.replace('Subscription.Subscription', 'Subscription'), [
      `Subscription.${where}`,
    ]);
  }
  const resource = parsed.data;
  if (resource.criteria !== topicUrl(fhirBase)) {
    throw new InvalidResource(`Subscription.criteria must be the topic ${topicUrl(fhirBase)}.`, ['Subscription.criteria']);
  }
  const filters = (resource._criteria?.extension ?? []).filter((item) => item.url === FILTER_CRITERIA);
  if (filters.length > 1) throw new InvalidResource('Subscription.criteria takes at most one filter.', ['Subscription.criteria']);
  const filter = valueOf(filters, FILTER_CRITERIA, 'valueString');
  let filterType: RecordType | undefined;
  if (filter !== undefined) {
    const match = typeof filter === 'string' ? /^([A-Za-z]+)\?$/.exec(filter) : null;
    const type = match?.[1] ?? '';
    if (!isRecordType(type)) {
      throw new InvalidResource('The filter must name a resource type the record holds, as in "Observation?".', ['Subscription.criteria']);
    }
    filterType = type;
  }
  const { channel } = resource;
  if (channel.type !== 'rest-hook') throw new InvalidResource('Subscription.channel.type must be rest-hook.', ['Subscription.channel.type']);
  if (!channel.endpoint || !URL.canParse(channel.endpoint)) {
    throw new InvalidResource('Subscription.channel.endpoint must be the URL notifications are posted to.', ['Subscription.channel.endpoint']);
  }
  const endpoint = new URL(channel.endpoint);
  const schemes = allowPrivate ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(endpoint.protocol) || endpoint.username || endpoint.password) {
    throw new InvalidResource('Subscription.channel.endpoint must be an https URL without credentials.', ['Subscription.channel.endpoint']);
  }
  if (channel.payload !== undefined && channel.payload !== 'application/fhir+json') {
    throw new InvalidResource('Subscription.channel.payload must be application/fhir+json.', ['Subscription.channel.payload']);
  }
  const content = valueOf(channel._payload?.extension, PAYLOAD_CONTENT, 'valueCode') ?? 'id-only';
  if (content === 'full-resource') {
    throw new InvalidResource('carevault never sends full resources in notifications: ask for id-only (then read the resource) or empty.', [
      'Subscription.channel.payload',
    ]);
  }
  if (content !== 'id-only' && content !== 'empty') {
    throw new InvalidResource('The payload content must be id-only or empty.', ['Subscription.channel.payload']);
  }
  const headers = channel.header ?? [];
  if (headers.some((header) => !HEADER.test(header))) {
    throw new InvalidResource('Each Subscription.channel.header must be one "Name: value" line.', ['Subscription.channel.header']);
  }
  const heartbeat = valueOf(channel.extension, HEARTBEAT_PERIOD, 'valueUnsignedInt');
  if (heartbeat !== undefined && (typeof heartbeat !== 'number' || !Number.isInteger(heartbeat) || heartbeat < 10 || heartbeat > 86_400)) {
    throw new InvalidResource('The heartbeat period must be a whole number of seconds from 10 to 86400.', ['Subscription.channel']);
  }
  return {
    reason: resource.reason ?? '',
    endpoint,
    headers,
    content,
    filterType,
    heartbeatSeconds: typeof heartbeat === 'number' ? heartbeat : undefined,
  };
}

/** A stored Subscription, as carevault keeps it. */
export type StoredSubscription = SubscriptionRequest & {
  id: string;
  status: SubscriptionStatus;
  error: string | undefined;
  versionId: number;
  lastUpdated: Date;
  eventsSinceStart: number;
};

/** The Subscription resource an app reads back. */
export function subscriptionResource(subscription: StoredSubscription, fhirBase: string): Record<string, unknown> {
  return {
    resourceType: 'Subscription',
    id: subscription.id,
    meta: { versionId: String(subscription.versionId), lastUpdated: subscription.lastUpdated.toISOString(), profile: [PROFILE] },
    status: subscription.status,
    reason: subscription.reason,
    criteria: topicUrl(fhirBase),
    ...(subscription.filterType ? { _criteria: { extension: [{ url: FILTER_CRITERIA, valueString: `${subscription.filterType}?` }] } } : {}),
    ...(subscription.error ? { error: subscription.error } : {}),
    channel: {
      ...(subscription.heartbeatSeconds ? { extension: [{ url: HEARTBEAT_PERIOD, valueUnsignedInt: subscription.heartbeatSeconds }] } : {}),
      type: 'rest-hook',
      endpoint: subscription.endpoint.href,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: PAYLOAD_CONTENT, valueCode: subscription.content }] },
      ...(subscription.headers.length ? { header: subscription.headers } : {}),
    },
  };
}

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status';

/** One change a notification tells of. */
export type NotifiedEvent = { number: number; type: string; resourceId: string; occurredAt: Date };

/**
 * The R4 backport's SubscriptionStatus: a Parameters resource (subscription, topic, status, type,
 * events-since-subscription-start, and a notification-event per change: its number, time and —
 * for id-only — the focus reference).
 */
export function subscriptionStatus(
  subscription: Pick<StoredSubscription, 'id' | 'status' | 'content' | 'eventsSinceStart' | 'error'>,
  fhirBase: string,
  type: NotificationType,
  events: readonly NotifiedEvent[] = [],
): Record<string, unknown> {
  return {
    resourceType: 'Parameters',
    meta: { profile: [STATUS_PROFILE] },
    parameter: [
      { name: 'subscription', valueReference: { reference: `${fhirBase}/Subscription/${subscription.id}` } },
      { name: 'topic', valueCanonical: topicUrl(fhirBase) },
      { name: 'status', valueCode: subscription.status },
      { name: 'type', valueCode: type },
      { name: 'events-since-subscription-start', valueString: String(subscription.eventsSinceStart) },
      ...events.map((event) => ({
        name: 'notification-event',
        part: [
          { name: 'event-number', valueString: String(event.number) },
          { name: 'timestamp', valueInstant: event.occurredAt.toISOString() },
          ...(subscription.content === 'id-only' ? [{ name: 'focus', valueReference: { reference: `${fhirBase}/${event.type}/${event.resourceId}` } }] : []),
        ],
      })),
      ...(subscription.error ? [{ name: 'error', valueCodeableConcept: { text: subscription.error } }] : []),
    ],
  };
}

/** The `history` Bundle posted to the endpoint (or answered by `$status`), its status first. */
export function notificationBundle(status: Record<string, unknown>, at: Date, bundleType: 'history' | 'searchset' = 'history'): Record<string, unknown> {
  const parameters = (status.parameter ?? []) as { name: string; valueReference?: { reference: string } }[];
  const subscription = parameters.find((parameter) => parameter.name === 'subscription')?.valueReference?.reference ?? 'Subscription';
  return {
    resourceType: 'Bundle',
    id: globalThis.crypto.randomUUID(),
    meta: { lastUpdated: at.toISOString() },
    type: bundleType,
    timestamp: at.toISOString(),
    ...(bundleType === 'searchset' ? { total: 1 } : {}),
    entry: [
      {
        fullUrl: `urn:uuid:${globalThis.crypto.randomUUID()}`,
        resource: status,
        ...(bundleType === 'history' ? { request: { method: 'GET', url: `${subscription}/$status` }, response: { status: '200' } } : {}),
        ...(bundleType === 'searchset' ? { search: { mode: 'match' } } : {}),
      },
    ],
  };
}

/** The CapabilityStatement's entry: Subscription, with the topic it offers. */
export function capabilityResource(fhirBase: string): Record<string, unknown> {
  return {
    type: 'Subscription',
    extension: [{ url: CAPABILITY_TOPIC, valueCanonical: topicUrl(fhirBase) }],
    supportedProfile: [PROFILE],
    interaction: [{ code: 'read' }, { code: 'create' }, { code: 'update' }, { code: 'delete' }, { code: 'search-type' }],
    operation: [{ name: 'status', definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status' }],
    documentation:
      'An app with the rule patient/Subscription.cruds keeps its own Subscriptions in the record its token reaches: topic record-changed, filtered by resource type ("Observation?"), rest-hook to an https endpoint, payload id-only or empty.',
  };
}

/** `GET /fhir/SubscriptionTopic/record-changed`: the topic, described for apps (an R4 Basic would do; this is the R5 shape the IG points at). */
export function topicDescription(fhirBase: string): Record<string, unknown> {
  return {
    resourceType: 'Basic',
    id: 'record-changed',
    code: { coding: [{ system: 'http://hl7.org/fhir/fhir-types', code: 'SubscriptionTopic' }] },
    extension: [{ url: `${BACKPORT}/backport-topic-canonical`, valueUri: topicUrl(fhirBase) }],
    text: {
      status: 'generated',
      div: '<div xmlns="http://www.w3.org/1999/xhtml">A resource in this record was created, updated or deleted. Filter by resource type: "Observation?".</div>',
    },
  };
}
