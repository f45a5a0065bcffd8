/**
 * A notification survives kill -9: carevault (a process of its own, on the embedded database or
 * PostgreSQL) is killed while it posts the first of three changes' notifications to an endpoint that
 * has not answered yet; started again on the same data, it delivers all three, in order, numbered 1
 * to 3 — the outbox was written with each change, and the killed instance's delivery job expired
 * and was retried.
 */
import { authorizeInBrowser, exchangeCode, newPerson, startAuthorization, type TestApp } from '../support/app';
import { RECORD_KEEPER, weight } from '../support/authorized';
import { Browser } from '../support/browser';
import { CHANGE_WATCHER, fhirCall, notificationsAt, startReceiver, statusOf, subscriptionTo, waitFor } from '../support/notifications';
import { newServerTarget, registerAppOver, type ServerTarget } from '../support/process';

const TOKEN = 'k'.repeat(40);
const ENV = { REGISTRATION_INITIAL_ACCESS_TOKEN: TOKEN, LOG_LEVEL: 'warn', SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'true' };
let target: ServerTarget;
const receiver = startReceiver();

beforeAll(async () => {
  target = await newServerTarget();
}, 60_000);

afterAll(async () => {
  await target?.remove();
  await receiver.close();
});

test('changes made before a kill -9 are notified after the restart, every one, in order', async () => {
  const hooks = await receiver.start();
  let server = await target.start(ENV);
  const browser = new Browser(server.issuer);
  const person = newPerson('Kim Watched');
  const authorize = async (app: TestApp, scope: string, register: boolean) => {
    const authorization = await startAuthorization(app, { scope });
    const back = await authorizeInBrowser(browser, authorization.url, person, { register });
    return (await exchangeCode(app, authorization, back.location ?? '')).access_token;
  };
  const watcherToken = await authorize(
    await registerAppOver(server.issuer, TOKEN, CHANGE_WATCHER),
    'openid patient/Observation.rs patient/Subscription.cruds offline_access',
    true,
  );
  const writerToken = await authorize(await registerAppOver(server.issuer, TOKEN, RECORD_KEEPER), 'openid patient/Observation.cruds', false);

  const created = await fhirCall(server.issuer, watcherToken, '/Subscription', { body: subscriptionTo(server.issuer, `${hooks}/kill`) });
  expect(created.status).toBe(201);
  await waitFor('active', async () => (await fhirCall(server.issuer, watcherToken, `/Subscription/${created.body.id}`)).body.status === 'active');

  // The endpoint takes the first notification and does not answer: the server is killed mid-post.
  receiver.state.holding = true;
  const ids: string[] = [];
  for (const value of [80, 81, 82]) ids.push((await fhirCall(server.issuer, writerToken, '/Observation', { body: weight(value) })).body.id);
  await waitFor('the first post', () => receiver.state.held > 0);
  server.child.kill('SIGKILL');
  expect((await server.exited).signal).toBe('SIGKILL');
  expect(notificationsAt(receiver.received, '/kill')).toEqual([]);

  receiver.state.holding = false;
  server = await target.start(ENV);
  const delivered = await waitFor(
    'three notifications after the restart',
    () => notificationsAt(receiver.received, '/kill').length >= 3 && notificationsAt(receiver.received, '/kill'),
    60,
  );
  expect(delivered.map((item) => statusOf(item.body).events[0])).toEqual(
    ids.map((id, index) => ({ number: String(index + 1), focus: `${server.issuer}/fhir/Observation/${id}` })),
  );
  server.child.kill('SIGTERM');
  expect((await server.exited).code).toBe(0);
}, 120_000);
