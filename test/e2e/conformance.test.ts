/**
 * Conformance: carevault's three self-descriptions — OpenID discovery, SMART discovery and
 * the FHIR CapabilityStatement — are read from the running server and walked field by field and
 * value by value; each advertised thing is looked up in a table of checks (test/support/conformance)
 * and proven with real clients: openid-client (code + PKCE, PAR, DPoP, every client authentication,
 * device grant, dynamic registration), plain fetch for FHIR, headless Chromium for form_post. A
 * value advertised without a check fails, as does any check.
 */
import { startTestServer, type TestServer } from '../support/server';
import { scopeToken } from '../support/conformance/apps';
import { capabilityItems } from '../support/conformance/fhir-checks';
import { openidChecks } from '../support/conformance/oidc-checks';
import { sampleOf } from '../support/conformance/samples';
import { smartChecks } from '../support/conformance/smart-checks';
import { advertisedIn, once, walk, type Table, type WalkReport } from '../support/conformance/walk';
import { INITIAL_ACCESS_TOKEN, World, type Json } from '../support/conformance/world';

let server: TestServer;
let world: World;
let openid: Table;
let smart: Table;

async function documentAt(path: string): Promise<Json> {
  const res = await fetch(`${server.issuer}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

/** One sample resource of `type` in the person's record (the record's Patient for Patient). */
function sample(type: string): Promise<string> {
  return world.memo(`sample:${type}`, async () => {
    const { record } = await world.person();
    const body = sampleOf(type, record);
    if (!body) return record;
    const { token } = await scopeToken(world, 'cruds');
    const res = await world.fhir(token, 'POST', type, body);
    if (res.status !== 201) throw new Error(`creating the ${type} sample answered ${res.status}: ${await res.text()}`);
    return String(((await res.json()) as Json).id);
  });
}

function print(document: string, report: WalkReport): void {
  process.stdout.write(
    `\n${document}: ${report.checked} advertised values proven, ${report.unchecked.length} without a check, ${report.failed.length} failed\n` +
      `${[...report.lines, ...report.unchecked, ...report.failed].join('\n')}\n`,
  );
}

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN, CONNECT_POLL_INTERVAL: '1' });
  const [openidDocument, smartDocument, capability] = await Promise.all([
    documentAt('/.well-known/openid-configuration'),
    documentAt('/.well-known/smart-configuration'),
    documentAt('/fhir/metadata'),
  ]);
  world = new World(server, openidDocument, smartDocument, capability);
  const memo = <T>(key: string, make: () => Promise<T>) => world.memo(key, make);
  openid = once(openidChecks(world, sample), memo);
  smart = once(smartChecks(world, openid, sample), memo);
});

afterAll(async () => {
  await world?.close();
  await server?.stop();
});

/** A walk runs a few hundred real requests, one after another; on a loaded machine that takes minutes. */
const WALK_TIMEOUT = 240_000;

test(
  'every value in /.well-known/openid-configuration works as advertised',
  async () => {
    const report = await walk('openid-configuration', advertisedIn(world.openid, openid));
    print('openid-configuration', report);
    expect(report.unchecked).toEqual([]);
    expect(report.failed).toEqual([]);
  },
  WALK_TIMEOUT,
);

test(
  'every value in /.well-known/smart-configuration works as advertised, and the /fhir copy is the same',
  async () => {
    expect(await documentAt('/fhir/.well-known/smart-configuration')).toEqual(world.smart);
    const report = await walk('smart-configuration', advertisedIn(world.smart, smart));
    print('smart-configuration', report);
    expect(report.unchecked).toEqual([]);
    expect(report.failed).toEqual([]);
  },
  WALK_TIMEOUT,
);

test(
  'every element of the CapabilityStatement works as advertised',
  async () => {
    const report = await walk('CapabilityStatement', capabilityItems(world, world.capability, sample));
    print('CapabilityStatement', report);
    expect(report.unchecked).toEqual([]);
    expect(report.failed).toEqual([]);
  },
  WALK_TIMEOUT,
);

test('advertising something without a check fails the walk', async () => {
  // The documents as they would be with one more promise each: nothing here runs a check.
  const openidMore = { ...world.openid, response_modes_supported: ['query', 'web_message'], backchannel_logout_supported: true };
  const unchecked = advertisedIn(openidMore, openid)
    .filter((item) => !item.check)
    .map((item) => `${item.where}=${String(item.value)}`);
  expect(unchecked).toEqual(['response_modes_supported=web_message', 'backchannel_logout_supported=true']);

  const smartMore = { ...world.smart, capabilities: ['launch-ehr', ...(world.smart.capabilities as string[])] };
  expect(
    advertisedIn(smartMore, smart)
      .filter((item) => !item.check)
      .map((item) => String(item.value)),
  ).toEqual(['launch-ehr']);

  const rest = (world.capability.rest as Json[])[0] ?? {};
  const observation = ((rest.resource as Json[]) ?? []).find((resource) => resource.type === 'Observation') ?? {};
  const statementMore = {
    ...world.capability,
    rest: [
      {
        ...rest,
        resource: [
          {
            ...observation,
            interaction: [...(observation.interaction as Json[]), { code: 'patch' }],
            searchParam: [...(observation.searchParam as Json[]), { name: 'value-quantity', type: 'quantity' }],
            searchInclude: [...(observation.searchInclude as string[]), 'Observation:performer'],
          },
        ],
      },
    ],
  };
  expect(
    capabilityItems(world, statementMore, sample)
      .filter((item) => !item.check)
      .map((item) => `${item.where}=${JSON.stringify(item.value)}`),
  ).toEqual(['Observation.interaction="patch"', 'Observation.searchInclude="Observation:performer"', 'Observation.searchParam="value-quantity"']);
});
