/**
 * The checks for the CapabilityStatement (`/fhir/metadata`, FHIR R4 capabilitystatement.html): the
 * statement is walked element by element — each format, the security service and its OAuth URIs,
 * and for every resource type each interaction, search parameter and versioning flag — and every
 * element maps to a check with a real token. An element this walk does not know is reported
 * unchecked, so the statement cannot grow a promise nobody tests.
 */
import { scopeToken } from './apps';
import { searchProbe } from './samples';
import { subscriptionItems } from './subscription-checks';
import type { Advertised, Check } from './walk';
import type { Json, World } from './world';

const NIL = '00000000-0000-4000-8000-000000000000';

type Bundle = { resourceType: string; type: string; total: number; entry?: { resource: Json }[]; link: { relation: string; url: string }[] };

async function writer(w: World): Promise<string> {
  return (await scopeToken(w, 'cruds')).token;
}

async function json<T = Json>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

function idsOf(bundle: Bundle): string[] {
  return (bundle.entry ?? []).map((entry) => String(entry.resource.id));
}

/** A POST search with a form body, as fhir-kit-client's postSearch sends it. */
async function postSearch(w: World, token: string, type: string, params: Record<string, string>): Promise<Response> {
  return fetch(`${w.fhirBase}/${type}/_search`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/fhir+json' },
    body: new URLSearchParams(params).toString(),
  });
}

function interactionCheck(w: World, type: string, code: string, sample: (type: string) => Promise<string>): Check | undefined {
  const checks: Record<string, Check> = {
    read: async () => {
      const token = await writer(w);
      const id = await sample(type);
      const res = await w.fhir(token, 'GET', `${type}/${id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      expect(res.headers.get('etag')).toMatch(/^W\/"\d+"$/);
      expect(await json(res)).toMatchObject({ resourceType: type, id });
    },
    create: async () => {
      const token = await writer(w);
      const body = await json(await w.fhir(token, 'GET', `${type}/${await sample(type)}`));
      const res = await w.fhir(token, 'POST', type, { ...body, id: undefined, meta: undefined });
      expect(res.status).toBe(201);
      const created = await json(res);
      expect(res.headers.get('location')).toBe(`${w.fhirBase}/${type}/${String(created.id)}/_history/1`);
    },
    update: async () => {
      const token = await writer(w);
      const id = await sample(type);
      const read = await w.fhir(token, 'GET', `${type}/${id}`);
      const body = await json(read);
      const res = await w.fhir(token, 'PUT', `${type}/${id}`, body, { headers: { 'if-match': read.headers.get('etag') ?? '' } });
      expect(res.status).toBe(200);
      const version = (etag: string | null) => Number(/\d+/.exec(etag ?? '')?.[0]);
      expect(version(res.headers.get('etag'))).toBe(version(read.headers.get('etag')) + 1);
    },
    delete: async () => {
      const token = await writer(w);
      const body = await json(await w.fhir(token, 'GET', `${type}/${await sample(type)}`));
      const made = await json(await w.fhir(token, 'POST', type, { ...body, id: undefined, meta: undefined }));
      expect((await w.fhir(token, 'DELETE', `${type}/${String(made.id)}`)).status).toBe(204);
      expect([404, 410]).toContain((await w.fhir(token, 'GET', `${type}/${String(made.id)}`)).status);
    },
    vread: async () => {
      const token = await writer(w);
      const id = await sample(type);
      const res = await w.fhir(token, 'GET', `${type}/${id}/_history/1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe('W/"1"');
      expect(await json(res)).toMatchObject({ resourceType: type, id, meta: { versionId: '1' } });
    },
    'history-instance': async () => {
      const token = await writer(w);
      const id = await sample(type);
      const current = await json<{ meta: { versionId: string } }>(await w.fhir(token, 'GET', `${type}/${id}`));
      const res = await w.fhir(token, 'GET', `${type}/${id}/_history`);
      expect(res.status).toBe(200);
      const bundle = await json<Bundle & { entry: { resource: Json }[] }>(res);
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'history' });
      expect(bundle.total).toBe(Number(current.meta.versionId));
      expect(bundle.entry[0]?.resource).toMatchObject({ id, meta: { versionId: current.meta.versionId } });
    },
    'search-type': async () => {
      const token = await writer(w);
      await sample(type);
      const first = await w.fhir(token, 'GET', `${type}?_count=1`);
      expect(first.status).toBe(200);
      const bundle = await json<Bundle>(first);
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
      expect(bundle.total).toBeGreaterThanOrEqual(1);
      expect(bundle.entry).toHaveLength(1);
      const next = bundle.link.find((link) => link.relation === 'next');
      if (bundle.total > 1) {
        expect(next).toBeDefined();
        const page = await json<Bundle>(await w.fhir(token, 'GET', next?.url ?? ''));
        expect(idsOf(page)).not.toEqual(idsOf(bundle));
      }
      // The same search by POST to _search, with the same paging.
      const posted = await postSearch(w, token, type, { _count: '1' });
      expect(posted.status).toBe(200);
      const byPost = await json<Bundle>(posted);
      expect(byPost.total).toBe(bundle.total);
      expect(idsOf(byPost)).toEqual(idsOf(bundle));
      expect(byPost.link.find((link) => link.relation === 'next')?.url).toBe(next?.url);
    },
  };
  return checks[code];
}

function searchParamCheck(w: World, type: string, name: string, sample: (type: string) => Promise<string>): Check | undefined {
  // The probe needs the sample's id: known only once it exists, so it is looked up at check time,
  // but whether a probe exists at all must be known now (an unknown parameter is unchecked).
  if (!searchProbe(type, name, 'id', 'record', NIL)) return undefined;
  return async () => {
    const token = await writer(w);
    const id = await sample(type);
    const record = (await w.person()).record;
    const probe = searchProbe(type, name, id, record, NIL);
    if (!probe) throw new Error(`no probe for ${type}?${name}`);
    const search = async (value: string) => {
      const res = await w.fhir(token, 'GET', `${type}?${new URLSearchParams({ [name]: value, _count: '100' }).toString()}`, undefined, {
        headers: { prefer: 'handling=strict' },
      });
      expect(res.status).toBe(200);
      return idsOf(await json<Bundle>(res));
    };
    expect(await search(probe.match)).toContain(id);
    expect(await search(probe.miss)).not.toContain(id);
    const posted = await postSearch(w, token, type, { [name]: probe.match, _count: '100' });
    expect(posted.status).toBe(200);
    expect(idsOf(await json<Bundle>(posted))).toContain(id);
  };
}

/**
 * `_include` / `_revinclude` along one reference: the search answers, and whatever it brings along
 * is of the type that reference reaches (or, for a revinclude, of the referring type) and is marked
 * `include`. With the samples (all in one record) a patient include brings the record's Patient.
 */
const REACHES: Readonly<Record<string, string>> = {
  patient: 'Patient',
  subject: 'Patient',
  encounter: 'Encounter',
  result: 'Observation',
  entity: 'DocumentReference',
  // Provenance.target reaches every item type: its includes name the type (`Provenance:target:Condition`).
  target: 'Observation',
};

function inclusionCheck(w: World, type: string, name: '_include' | '_revinclude', value: string, sample: (type: string) => Promise<string>): Check | undefined {
  const [source = '', param = '', target] = value.split(':');
  // A reference this walk does not know is reported unchecked.
  if (!REACHES[param]) return undefined;
  return async () => {
    const token = await writer(w);
    await sample(type);
    if (source !== type) await sample(source);
    const res = await w.fhir(token, 'GET', `${type}?${new URLSearchParams({ [name]: value, _count: '100' }).toString()}`, undefined, {
      headers: { prefer: 'handling=strict' },
    });
    expect(res.status).toBe(200);
    const bundle = await json<{ entry?: { resource: Json; search: { mode: string } }[] }>(res);
    const included = (bundle.entry ?? []).filter((entry) => entry.search.mode === 'include').map((entry) => String(entry.resource.resourceType));
    const expected = name === '_include' ? (target ?? REACHES[param]) : source;
    expect(expected).toBeDefined();
    for (const resourceType of included) expect(resourceType).toBe(expected);
    if (name === '_include' && expected === 'Patient') expect(included).toContain('Patient');
    if (name === '_revinclude' && type === 'Patient') expect(included).toContain(source);
  };
}

/** `transaction` and `batch` at the base: a Bundle of two creates, the second referring to the first by urn:uuid. */
function systemInteractionCheck(w: World, code: string, sample: (type: string) => Promise<string>): Check | undefined {
  if (code !== 'transaction' && code !== 'batch') return undefined;
  return async () => {
    const token = await writer(w);
    const encounter = await json(await w.fhir(token, 'GET', `Encounter/${await sample('Encounter')}`));
    const observation = await json(await w.fhir(token, 'GET', `Observation/${await sample('Observation')}`));
    const visit = 'urn:uuid:6a1f3f8e-8c55-4c1f-9f59-2f1a4c8f0b01';
    const bundle = {
      resourceType: 'Bundle',
      type: code,
      entry: [
        { fullUrl: visit, resource: { ...encounter, id: undefined, meta: undefined }, request: { method: 'POST', url: 'Encounter' } },
        {
          resource: { ...observation, id: undefined, meta: undefined, ...(code === 'transaction' ? { encounter: { reference: visit } } : {}) },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const res = await w.fhir(token, 'POST', '', bundle);
    expect(res.status).toBe(200);
    const answer = await json<{ type: string; entry: { response: { status: string; location: string } }[] }>(res);
    expect(answer.type).toBe(`${code}-response`);
    expect(answer.entry.map((entry) => entry.response.status)).toEqual(['201 Created', '201 Created']);
    if (code === 'transaction') {
      const made = await json<{ encounter: { reference: string } }>(
        await w.fhir(token, 'GET', answer.entry[1]?.response.location.replace(/\/_history\/\d+$/, '') ?? ''),
      );
      expect(made.encounter.reference).toBe(answer.entry[0]?.response.location.replace(/\/_history\/\d+$/, ''));
    }
  };
}

/** `_format` (and the matching Accept) for one advertised format; anything but JSON is 406. */
function formatCheck(w: World, format: string): Check | undefined {
  const accept = { json: 'application/json', 'application/fhir+json': 'application/fhir+json' }[format];
  if (!accept) return undefined;
  return async () => {
    const token = await writer(w);
    for (const path of [`metadata?_format=${encodeURIComponent(format)}`, `Observation?_format=${encodeURIComponent(format)}`]) {
      const res = await w.fhir(token, 'GET', path, undefined, { headers: { prefer: 'handling=strict' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    }
    expect((await w.fhir(token, 'GET', 'Observation', undefined, { headers: { accept } })).status).toBe(200);
    // Nothing else is: XML is refused rather than answered in JSON.
    const xml = await w.fhir(token, 'GET', 'Observation?_format=xml');
    expect(xml.status).toBe(406);
    expect(await json(xml)).toMatchObject({ resourceType: 'OperationOutcome' });
    expect((await w.fhir(token, 'GET', 'Observation', undefined, { headers: { accept: 'application/fhir+xml' } })).status).toBe(406);
  };
}

/** The OAuth URIs of the SMART extension: each the SMART discovery document's own. */
function oauthUriCheck(w: World, name: string, value: unknown): Check | undefined {
  const field = {
    authorize: 'authorization_endpoint',
    token: 'token_endpoint',
    revoke: 'revocation_endpoint',
    introspect: 'introspection_endpoint',
    manage: 'management_endpoint',
    register: 'registration_endpoint',
  }[name];
  return field ? async () => expect(value).toBe(w.smart[field]) : undefined;
}

/** Every element of the statement, each with its check (or none, when this walk does not know it). */
export function capabilityItems(w: World, statement: Json, sample: (type: string) => Promise<string>): Advertised[] {
  const items: Advertised[] = [];
  const add = (where: string, value: unknown, check: Check | undefined) => items.push({ where, value, check });
  const unknown = (where: string, object: Json, known: readonly string[]) => {
    for (const [key, value] of Object.entries(object)) if (!known.includes(key)) add(`${where}.${key}`, value, undefined);
  };
  const is = (expected: unknown) => (value: unknown) => async () => expect(value).toEqual(expected);

  add('resourceType', statement.resourceType, is('CapabilityStatement')(statement.resourceType));
  add('status', statement.status, is('active')(statement.status));
  add('date', statement.date, async () => expect(String(statement.date)).toMatch(/^\d{4}-\d{2}-\d{2}$/));
  add('kind', statement.kind, is('instance')(statement.kind));
  add('software', statement.software, async () => expect(statement.software).toMatchObject({ name: 'carevault', version: expect.any(String) }));
  add('implementation', statement.implementation, async () => expect((statement.implementation as Json).url).toBe(w.fhirBase));
  add('fhirVersion', statement.fhirVersion, is('4.0.1')(statement.fhirVersion));
  for (const format of (statement.format as string[]) ?? []) add('format', format, formatCheck(w, format));
  unknown('', statement, ['resourceType', 'status', 'date', 'kind', 'software', 'implementation', 'fhirVersion', 'format', 'rest']);

  for (const rest of (statement.rest as Json[]) ?? []) {
    add('rest.mode', rest.mode, is('server')(rest.mode));
    unknown('rest', rest, ['mode', 'security', 'interaction', 'resource']);
    for (const interaction of (rest.interaction as Json[]) ?? []) {
      add('rest.interaction', interaction.code, systemInteractionCheck(w, String(interaction.code), sample));
      unknown('rest.interaction', interaction, ['code', 'documentation']);
    }
    const security = (rest.security ?? {}) as Json;
    add('rest.security.cors', security.cors, async () => {
      expect(security.cors).toBe(true);
      const preflight = await fetch(`${w.fhirBase}/Observation`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    });
    for (const service of (security.service as { coding: { code: string }[] }[]) ?? []) {
      for (const coding of service.coding) {
        add(
          'rest.security.service',
          coding.code,
          coding.code === 'SMART-on-FHIR'
            ? async () => {
                const none = await fetch(`${w.fhirBase}/Observation`);
                expect(none.status).toBe(401);
                expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
                expect((await w.fhir(await writer(w), 'GET', 'Observation')).status).toBe(200);
              }
            : undefined,
        );
      }
    }
    add('rest.security.description', security.description, async () => expect(security.description).toEqual(expect.any(String)));
    for (const extension of (security.extension as Json[]) ?? []) {
      if (extension.url !== 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris') {
        add('rest.security.extension', extension.url, undefined);
        continue;
      }
      for (const uri of (extension.extension as { url: string; valueUri: string }[]) ?? []) {
        add(`rest.security.oauth-uris.${uri.url}`, uri.valueUri, oauthUriCheck(w, uri.url, uri.valueUri));
      }
    }
    unknown('rest.security', security, ['cors', 'service', 'description', 'extension']);

    for (const resource of (rest.resource as Json[]) ?? []) {
      const type = String(resource.type);
      // Not a type of the record: the app's own Subscriptions, checked by their own walk.
      if (type === 'Subscription') {
        items.push(...subscriptionItems(w, resource));
        continue;
      }
      add(`${type}.type`, type, async () => expect((await w.fhir(await writer(w), 'GET', `${type}?_count=1`)).status).toBe(200));
      for (const interaction of (resource.interaction as Json[]) ?? []) {
        add(`${type}.interaction`, interaction.code, interactionCheck(w, type, String(interaction.code), sample));
        unknown(`${type}.interaction`, interaction, ['code', 'documentation']);
      }
      add(
        `${type}.versioning`,
        resource.versioning,
        resource.versioning === 'versioned-update'
          ? async () => {
              const token = await writer(w);
              const id = await sample(type);
              const body = await json(await w.fhir(token, 'GET', `${type}/${id}`));
              expect([409, 412]).toContain((await w.fhir(token, 'PUT', `${type}/${id}`, body, { headers: { 'if-match': 'W/"999"' } })).status);
            }
          : undefined,
      );
      add(
        `${type}.readHistory`,
        resource.readHistory,
        resource.readHistory === true
          ? async () => {
              // Version 1 stays readable after an update.
              const token = await writer(w);
              const id = await sample(type);
              const read = await w.fhir(token, 'GET', `${type}/${id}`);
              const body = await json(read);
              expect((await w.fhir(token, 'PUT', `${type}/${id}`, body)).status).toBe(200);
              const first = await w.fhir(token, 'GET', `${type}/${id}/_history/1`);
              expect(first.status).toBe(200);
              expect(await json(first)).toMatchObject({ meta: { versionId: '1' } });
            }
          : undefined,
      );
      add(
        `${type}.updateCreate`,
        resource.updateCreate,
        resource.updateCreate === false
          ? async () => {
              const token = await writer(w);
              const body = await json(await w.fhir(token, 'GET', `${type}/${await sample(type)}`));
              const status = (await w.fhir(token, 'PUT', `${type}/made-up-id`, { ...body, id: 'made-up-id' })).status;
              expect(status).toBeGreaterThanOrEqual(400);
              expect(status).toBeLessThan(500);
            }
          : undefined,
      );
      add(
        `${type}.conditionalCreate`,
        resource.conditionalCreate,
        resource.conditionalCreate === true
          ? async () => {
              // If-None-Exist: the one match answers 200 and nothing is created; no match creates.
              const token = await writer(w);
              const id = await sample(type);
              const body = { ...(await json(await w.fhir(token, 'GET', `${type}/${id}`))), id: undefined, meta: undefined };
              const matched = await w.fhir(token, 'POST', type, body, { headers: { 'if-none-exist': `_id=${id}` } });
              expect(matched.status).toBe(200);
              expect(await json(matched)).toMatchObject({ id });
              expect((await w.fhir(token, 'POST', type, body, { headers: { 'if-none-exist': `_id=${NIL}` } })).status).toBe(201);
            }
          : is(false)(resource.conditionalCreate),
      );
      // Not offered, and nothing claims otherwise.
      add(`${type}.conditionalUpdate`, resource.conditionalUpdate, is(false)(resource.conditionalUpdate));
      add(
        `${type}.conditionalDelete`,
        resource.conditionalDelete,
        resource.conditionalDelete === 'not-supported'
          ? async () => {
              const token = await writer(w);
              const id = await sample(type);
              const status = (await w.fhir(token, 'DELETE', `${type}?_id=${id}`)).status;
              expect(status).toBeGreaterThanOrEqual(400);
              expect(status).toBeLessThan(500);
              expect((await w.fhir(token, 'GET', `${type}/${id}`)).status).toBe(200);
            }
          : undefined,
      );
      for (const operation of (resource.operation as Json[]) ?? []) {
        add(
          `${type}.operation`,
          operation.name,
          type === 'Patient' && operation.name === 'everything'
            ? async () => {
                const token = await writer(w);
                const id = await sample('Observation');
                const record = (await w.person()).record;
                const res = await w.fhir(token, 'GET', `Patient/${record}/$everything?_count=100`);
                expect(res.status).toBe(200);
                const ids = idsOf(await json<Bundle>(res));
                expect(ids[0]).toBe(record);
                expect(ids).toContain(id);
              }
            : undefined,
        );
        unknown(`${type}.operation`, operation, ['name', 'definition']);
      }
      for (const inclusion of (resource.searchInclude as string[]) ?? []) {
        add(`${type}.searchInclude`, inclusion, inclusionCheck(w, type, '_include', inclusion, sample));
      }
      for (const inclusion of (resource.searchRevInclude as string[]) ?? []) {
        add(`${type}.searchRevInclude`, inclusion, inclusionCheck(w, type, '_revinclude', inclusion, sample));
      }
      for (const param of (resource.searchParam as Json[]) ?? []) {
        add(`${type}.searchParam`, param.name, searchParamCheck(w, type, String(param.name), sample));
        unknown(`${type}.searchParam`, param, ['name', 'type']);
      }
      unknown(type, resource, [
        'type',
        'interaction',
        'versioning',
        'readHistory',
        'updateCreate',
        'conditionalCreate',
        'conditionalUpdate',
        'conditionalDelete',
        'operation',
        'searchInclude',
        'searchRevInclude',
        'searchParam',
      ]);
    }
  }
  return items;
}
