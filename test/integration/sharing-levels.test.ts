/**
 * Sharing a record with people, driven over HTTP with real apps (openid-client): an invitation by
 * mail works once; each level's pages (View only reads, View and change writes and picks packages
 * up into the record, Full shares onward); closing an account leaves shared records with their owner;
 * apps a sharer authorizes stay within the level (a View only person's app gets read rules only,
 * a required write rule makes Allow impossible, also when the form is forged); Stop sharing, Leave,
 * a lowered level and the expiry end or trim that person's app tokens at once (FHIR 401, refresh
 * invalid_grant) while the owner's app keeps working; racing answers to one link give one outcome;
 * every step is a line in the record's history.
 */
import * as oidc from 'openid-client';
import { CALLBACK, exchangeCode, registerTestApp, startAuthorization, WEIGHT_TRACKER, type TestApp } from '../support/app';
import { RECORD_KEEPER } from '../support/authorized';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { ANSWER, answer as answerQuestion, clinicApp, enterCode } from '../support/dopu';
import { mailsIn } from '../support/mail';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const MEDICINES = 'patient/MedicationStatement.cruds';
const ALL = `openid patient/Observation.rs ${MEDICINES} offline_access`;

/** An app reading observations (required) and keeping a medicines list (optional write rule). */
const tracker = (name: string) => ({ ...WEIGHT_TRACKER, client_name: name });

/** An app that must write observations to work at all. */
const writer = (name: string) => ({ ...RECORD_KEEPER, client_name: name });

type Tokens = Awaited<ReturnType<typeof exchangeCode>>;

const csrfOf = (page: PageResponse) => /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';

async function fhirStatus(token: string, path = 'Observation'): Promise<number> {
  return (await fetch(`${server.issuer}/fhir/${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function refusedRefresh(app: TestApp, refreshToken: string | undefined): Promise<void> {
  await expect(oidc.refreshTokenGrant(app.config, refreshToken ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
}

const scopesOf = (tokens: { scope?: string }) => (tokens.scope ?? '').split(' ').filter(Boolean).sort();

/** The newest invitation link mailed to `email`. */
function invitationLink(email: string): string {
  const mails = mailsIn(server.config.dataDir, email);
  const link = /\/sharing\/accept\?token=[A-Za-z0-9_-]+/.exec(mails.at(-1) ?? '')?.[0];
  if (!link) throw new Error(`no invitation mailed to ${email}`);
  return link;
}

/** The owner's (or a Full sharer's) Send invitation; returns the link mailed. */
async function invite(from: SignedUp, recordId: string, email: string, access: 'view' | 'change' | 'full', expires = ''): Promise<string> {
  const page = await from.browser.visit(`/records/${recordId}/sharing`);
  expect(page.status).toBe(200);
  const posted = await from.browser.request(`/records/${recordId}/sharing`, { form: { _csrf: csrfOf(page), email, access, expires } });
  expect(posted.status).toBe(303);
  const sent = await from.browser.visit(posted.location ?? '');
  expect(textOf(sent.html)).toContain(`Invitation sent to ${email}`);
  return invitationLink(email);
}

/** The invitee answers the link (Accept unless said), signed in already. */
async function answer(who: SignedUp, link: string, decision: 'accept' | 'decline' = 'accept'): Promise<PageResponse> {
  const page = await who.browser.visit(link);
  expect(page.status).toBe(200);
  return who.browser.submit(page, {}, `/sharing/${decision}`);
}

/**
 * A person allows `app` for `recordId` (asking for `scope`): the consent page with that record
 * chosen, every rule it offers ticked — and `forced` rules added to the form as a forged one would.
 */
async function allowFor(
  who: SignedUp,
  app: TestApp,
  recordId: string,
  options: { scope?: string; forced?: string[] } = {},
): Promise<{ page: PageResponse; tokens?: Tokens; consent: PageResponse }> {
  const authorization = await startAuthorization(app, { scope: options.scope ?? ALL });
  let consent = await who.browser.visit(authorization.url.toString());
  if (consent.html.includes('name="record" value=')) consent = await who.browser.visit(`${new URL(consent.url).pathname}?record=${recordId}`);
  const offered = [...consent.html.matchAll(/<input\b[^>]*name="rules"[^>]*>/g)].map(([tag]) => /value="([^"]+)"/.exec(tag)?.[1] ?? '');
  const forced = options.forced ?? [];
  const fields = { decision: 'allow', record: recordId, ...(forced.length ? { rules: [...offered, ...forced] } : {}) };
  const page = await who.browser.submit(consent, fields, '/consent', { check: offered });
  if (!page.location?.startsWith(CALLBACK)) return { page, consent };
  return { page, consent, tokens: await exchangeCode(app, authorization, page.location) };
}

async function historyOf(who: SignedUp, recordId: string): Promise<string> {
  return textOf((await who.browser.visit(`/records/${recordId}/history`)).html);
}

test('an invitation by mail, accepted once: View only reads the record and its inbox, and its controls to change are hidden or refused in words', async () => {
  const owner = await signedUpPerson(server, 'Sam Owner');
  const viewer = await signedUpPerson(server, 'Alex Viewer');
  const link = await invite(owner, owner.record, viewer.person.email, 'view', '2099-03-01');
  expect(mailsIn(server.config.dataDir, viewer.person.email).at(-1)).toContain("Sam Owner invites you to Sam Owner's health record");

  // Not signed in: the page says who shares what, and asks to sign in or create an account first.
  const stranger = new Browser(server.issuer);
  const asked = textOf((await stranger.visit(link)).html);
  expect(asked).toContain("Sam Owner invites you to Sam Owner's record with View only access, until 1 March 2099");
  expect(asked).toContain('Sign in');
  expect(asked).toContain('Create an account');

  const accepted = await answer(viewer, link);
  expect(accepted.url).toBe(`${server.issuer}/records/${owner.record}`);
  const recordPage = textOf(accepted.html);
  expect(recordPage).toContain('Shared with you: View only');
  expect(recordPage).toContain('Leave this record');
  expect(recordPage).not.toContain('Share this record');
  expect(recordPage).not.toContain('Import');

  // The link works once.
  const again = await viewer.browser.visit(link);
  expect(again.status).toBe(404);
  expect(textOf(again.html)).toContain('This invitation can no longer be used');
  const stored = await server.db.knex('share_invitations').where({ record_id: owner.record }).first();
  expect(JSON.stringify(stored)).not.toContain(link.split('token=')[1] ?? 'missing');

  // Reads: record, history, inbox; no sharing page, no sending, no import.
  expect((await viewer.browser.visit(`/records/${owner.record}/history`)).status).toBe(200);
  const inbox = await viewer.browser.visit(`/inbox/${owner.record}`);
  expect(inbox.status).toBe(200);
  expect(textOf(inbox.html)).toContain('You have View only access to this record');
  expect(inbox.html).not.toContain(`/inbox/${owner.record}/send`);
  const sharing = await viewer.browser.visit(`/records/${owner.record}/sharing`);
  expect(sharing.status).toBe(403);
  expect(textOf(sharing.html)).toContain('Only the record’s owner or someone with Full access can share this record');
  const deleting = await viewer.browser.visit(`/inbox/${owner.record}/messages/00000000-0000-4000-8000-000000000000/delete`);
  expect(deleting.status).toBe(403);
  expect(textOf(deleting.html)).toContain('You have View only access to this record, so you can read it but not change it');

  // The owner sees who has access, and the history says each step.
  const list = textOf((await owner.browser.visit(`/records/${owner.record}/sharing`)).html);
  expect(list).toContain('Alex Viewer');
  expect(list).toContain(viewer.person.email);
  expect(list).toContain('View only');
  expect(list).toContain('1 March 2099');
  const history = await historyOf(owner, owner.record);
  expect(history).toContain(`Sam Owner invited ${viewer.person.email} to share this record: view only, until 1 March 2099`);
  expect(history).toContain('Sam Owner shared this record with Alex Viewer: view only, until 1 March 2099');
}, 60_000);

test("a View only sharer's app gets read rules only, even when the form asks for more; a required write rule makes Allow impossible", async () => {
  const owner = await signedUpPerson(server, 'Sam Scopes');
  const viewer = await signedUpPerson(server, 'Alex Scopes');
  await answer(viewer, await invite(owner, owner.record, viewer.person.email, 'view'));

  const app = await registerTestApp(server, tracker('Viewer Tracker'));
  const { consent, tokens } = await allowFor(viewer, app, owner.record);
  const words = textOf(consent.html);
  expect(words).toContain('(shared with you: View only)');
  expect(words).toContain('Not possible: you have View only access to this record');
  expect(consent.html).toMatch(/<input type="checkbox" id="rule-1" disabled/);
  expect(scopesOf(tokens ?? {})).toEqual(['offline_access', 'openid', 'patient/Observation.rs']);
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(200);

  // A forged form with the write rule: still not granted.
  const forgedApp = await registerTestApp(server, tracker('Forged Tracker'));
  const forged = await allowFor(viewer, forgedApp, owner.record, { forced: [MEDICINES] });
  expect(forged.tokens).toBeDefined();
  expect(scopesOf(forged.tokens ?? {})).not.toContain(MEDICINES);

  // A required write rule: Allow is disabled with the reason, and a forged Allow is refused.
  const writerApp = await registerTestApp(server, writer('Writer'));
  const blocked = await allowFor(viewer, writerApp, owner.record, { scope: 'openid patient/Observation.cruds offline_access' });
  expect(blocked.consent.html).toMatch(/<button type="submit" name="decision" value="allow" disabled/);
  expect(textOf(blocked.consent.html)).toContain('you have View only access to it, so you cannot allow it');
  expect(blocked.tokens).toBeUndefined();
  expect(blocked.page.status).toBe(403);
  expect(textOf(blocked.page.html)).toContain('you have View only access to it, so you cannot allow it');
  expect(await server.db.knex('authorizations').where({ client_id: writerApp.clientId })).toHaveLength(0);
}, 60_000);

test('Stop sharing ends the sharer’s app tokens at once while the owner’s app keeps working; lowering a level trims the app', async () => {
  const owner = await signedUpPerson(server, 'Sam Stopper');
  const changer = await signedUpPerson(server, 'Alex Changer');
  await answer(changer, await invite(owner, owner.record, changer.person.email, 'change'));

  // The owner and the sharer allow the same app for the same record: two authorizations, ending apart.
  const app = await registerTestApp(server, tracker('Changer Tracker'));
  const ownerApp = app;
  const ownerTokens = (await allowFor(owner, ownerApp, owner.record)).tokens;
  const tokens = (await allowFor(changer, app, owner.record)).tokens;
  expect(await server.db.knex('authorizations').where({ client_id: app.clientId }).whereNull('revoked_at')).toHaveLength(2);
  expect(await fhirStatus(ownerTokens?.access_token ?? '')).toBe(200);
  expect(scopesOf(tokens ?? {})).toContain(MEDICINES);
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(200);

  // /apps shows who authorized which app.
  const apps = textOf((await owner.browser.visit('/apps')).html);
  expect(apps).toContain('Authorized by Alex Changer');
  expect(apps).toContain('Authorized by you');

  // Lowered to View only: the app loses its write rule; its token carrying it is withdrawn.
  const sharing = await owner.browser.visit(`/records/${owner.record}/sharing`);
  const changed = await owner.browser.submit(sharing, { access: 'view' }, `/people/`);
  expect(changed.status).toBe(200);
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(401);
  const narrower = await oidc.refreshTokenGrant(app.config, tokens?.refresh_token ?? '');
  expect(scopesOf(narrower)).not.toContain(MEDICINES);
  expect(await fhirStatus(narrower.access_token)).toBe(200);
  expect(await historyOf(owner, owner.record)).toContain("Sam Stopper changed Alex Changer's access to view only");

  // Stop sharing asks first, then ends the access and the app's tokens.
  const confirm = await owner.browser.visit(`/records/${owner.record}/sharing/people/${await personIdOf(changer)}/stop`);
  expect(textOf(confirm.html)).toContain('Stop sharing Sam Stopper');
  await owner.browser.submit(confirm, {}, '/stop');
  expect(await fhirStatus(narrower.access_token)).toBe(401);
  await refusedRefresh(app, narrower.refresh_token);
  expect((await changer.browser.visit(`/records/${owner.record}`)).status).toBe(404);
  expect(await fhirStatus(ownerTokens?.access_token ?? '')).toBe(200);
  expect((await oidc.refreshTokenGrant(ownerApp.config, ownerTokens?.refresh_token ?? '')).access_token).toBeTruthy();
  const history = await historyOf(owner, owner.record);
  expect(history).toContain('Sam Stopper stopped sharing this record with Alex Changer');
  expect(history).toContain('Changer Tracker lost its access because the person who allowed it no longer has access to this record');
}, 60_000);

async function personIdOf(who: SignedUp): Promise<string> {
  return String((await server.db.knex('people').where({ email: who.person.email }).first('id')).id);
}

test('Full shares onward and removes others; View and change writes; Leave ends the leaver’s app', async () => {
  const owner = await signedUpPerson(server, 'Sam Full');
  const full = await signedUpPerson(server, 'Alex Full');
  const helper = await signedUpPerson(server, 'Kim Helper');
  await answer(full, await invite(owner, owner.record, full.person.email, 'full'));
  const recordPage = textOf((await full.browser.visit(`/records/${owner.record}`)).html);
  expect(recordPage).toContain('Share this record');
  expect(recordPage).toContain('Import');

  // Full invites onward.
  await answer(helper, await invite(full, owner.record, helper.person.email, 'change'));
  const helperPage = textOf((await helper.browser.visit(`/records/${owner.record}`)).html);
  expect(helperPage).toContain('Shared with you: View and change');
  expect(helperPage).toContain('Import');
  expect((await helper.browser.visit(`/records/${owner.record}/sharing`)).status).toBe(403);
  expect(await historyOf(owner, owner.record)).toContain('Alex Full shared this record with Kim Helper: view and change');

  // Leave: asked first; the helper's app ends, the record is gone from their list.
  const app = await registerTestApp(server, tracker('Helper Tracker'));
  const tokens = (await allowFor(helper, app, owner.record)).tokens;
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(200);
  const confirm = await helper.browser.visit(`/records/${owner.record}/sharing/leave`);
  expect(textOf(confirm.html)).toContain("Leave Sam Full's record?");
  const left = await helper.browser.submit(confirm, {}, '/leave');
  expect(left.url).toBe(`${server.issuer}/records`);
  expect(textOf(left.html)).not.toContain('Sam Full');
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(401);
  await refusedRefresh(app, tokens?.refresh_token);
  expect(await historyOf(owner, owner.record)).toContain('Kim Helper left this record');

  // A custodian's access is not Full's to end.
  const ownerId = await personIdOf(owner);
  expect((await full.browser.visit(`/records/${owner.record}/sharing/people/${ownerId}/stop`)).status).toBe(403);
}, 60_000);

test('an expired share is gone at once (pages, the sharer’s app tokens, refresh), and swept, while the owner’s app keeps working', async () => {
  const owner = await signedUpPerson(server, 'Sam Expiry');
  const visitor = await signedUpPerson(server, 'Alex Expiry');
  await answer(visitor, await invite(owner, owner.record, visitor.person.email, 'view', '2099-01-01'));
  const ownerApp = await registerTestApp(server, tracker('Owner Expiry Tracker'));
  const ownerTokens = (await allowFor(owner, ownerApp, owner.record)).tokens;
  const app = await registerTestApp(server, tracker('Expiry Tracker'));
  const tokens = (await allowFor(visitor, app, owner.record)).tokens;
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(200);

  // The expiry passes: the pages refuse at once, before any sweep.
  await server.db
    .knex('custodianships')
    .where({ record_id: owner.record, person_id: await personIdOf(visitor) })
    .update({ expires_at: new Date(Date.now() - 1000) });
  expect((await visitor.browser.visit(`/records/${owner.record}`)).status).toBe(404);
  // The sharer's app's token no longer reaches the record, and no new token does, before the sweep.
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(401);
  expect(await fhirStatus(ownerTokens?.access_token ?? '')).toBe(200);
  await refusedRefresh(app, tokens?.refresh_token);
  await server.sweepOnce();
  expect(await fhirStatus(tokens?.access_token ?? '')).toBe(401);
  await refusedRefresh(app, tokens?.refresh_token);
  expect(await fhirStatus(ownerTokens?.access_token ?? '')).toBe(200);
  expect(await historyOf(owner, owner.record)).toContain("Alex Expiry's access to this record (view only) expired");
}, 60_000);

test('racing accepts of one link give one sharer; accept racing withdraw gives one outcome; Decline and Withdraw are history lines', async () => {
  const owner = await signedUpPerson(server, 'Sam Race');
  const first = await signedUpPerson(server, 'Alex Race');
  const second = await signedUpPerson(server, 'Kim Race');
  const link = await invite(owner, owner.record, 'shared@example.org', 'view');
  const pages = await Promise.all([first.browser.visit(link), second.browser.visit(link)]);
  const answers = await Promise.all([
    first.browser.submit(pages[0] as PageResponse, {}, '/sharing/accept', { follow: false }),
    second.browser.submit(pages[1] as PageResponse, {}, '/sharing/accept', { follow: false }),
  ]);
  expect(answers.map((page) => page.status).sort()).toEqual([303, 404]);
  expect(await server.db.knex('custodianships').where({ record_id: owner.record, access: 'view' })).toHaveLength(1);

  for (let round = 0; round < 3; round += 1) {
    const racing = await invite(owner, owner.record, `race${round}@example.org`, 'view');
    const [invitation] = await server.db.knex('share_invitations').where({ record_id: owner.record, email: `race${round}@example.org` });
    const who = round % 2 === 0 ? first : second;
    await server.db
      .knex('custodianships')
      .where({ record_id: owner.record, person_id: await personIdOf(who) })
      .delete();
    const acceptPage = await who.browser.visit(racing);
    const sharingPage = await owner.browser.visit(`/records/${owner.record}/sharing`);
    const [accepted, withdrawn] = await Promise.all([
      who.browser.submit(acceptPage, {}, '/sharing/accept', { follow: false }),
      owner.browser.request(`/records/${owner.record}/sharing/invitations/${String(invitation.id)}/withdraw`, { form: { _csrf: csrfOf(sharingPage) } }),
    ]);
    expect(withdrawn.status).toBe(303);
    const row = await server.db.knex('share_invitations').where({ id: invitation.id }).first('status');
    const holds = (await server.db.knex('custodianships').where({ record_id: owner.record, person_id: await personIdOf(who) })).length;
    if (row.status === 'accepted') {
      expect(accepted.status).toBe(303);
      expect(holds).toBe(1);
    } else {
      expect(row.status).toBe('withdrawn');
      expect(accepted.status).toBe(404);
      expect(holds).toBe(0);
    }
  }

  // Withdraw: the invitation leaves the page and its link stops working.
  const withdrawnLink = await invite(owner, owner.record, 'withdraw@example.org', 'view');
  const listed = await owner.browser.visit(`/records/${owner.record}/sharing`);
  expect(textOf(listed.html)).toContain('withdraw@example.org');
  const after = await owner.browser.submit(listed, {}, '/withdraw');
  expect(textOf(after.html)).not.toContain('withdraw@example.org');
  expect((await first.browser.visit(withdrawnLink)).status).toBe(404);

  const declined = await invite(owner, owner.record, 'decline@example.org', 'change');
  const third = await signedUpPerson(server, 'Pat Decline');
  const done = await answer(third, declined, 'decline');
  expect(textOf(done.html)).toContain('You declined the invitation');
  const history = await historyOf(owner, owner.record);
  expect(history).toContain('Pat Decline declined the invitation to share this record');
  expect(history).toContain('Sam Race withdrew the invitation for withdraw@example.org');
}, 90_000);

test('closing an account: a View only sharer only leaves the record; the owner leaves it with someone who has Full access', async () => {
  const owner = await signedUpPerson(server, 'Sam Closing');
  const viewer = await signedUpPerson(server, 'Alex Closing');
  const full = await signedUpPerson(server, 'Kim Closing');
  await answer(viewer, await invite(owner, owner.record, viewer.person.email, 'view'));
  await answer(full, await invite(owner, owner.record, full.person.email, 'full'));

  const close = async (who: SignedUp) => {
    const page = await who.browser.visit('/account/close');
    expect(textOf(page.html)).toContain('Sam Closing');
    const closed = await who.browser.request('/account/close', { form: { _csrf: csrfOf(page), password: who.person.password } });
    expect(closed.location).toBe(`${server.issuer}/account/closed`);
  };

  await close(viewer);
  expect((await owner.browser.visit(`/records/${owner.record}`)).status).toBe(200);
  expect(textOf((await owner.browser.visit(`/records/${owner.record}/sharing`)).html)).not.toContain('Alex Closing');

  await close(owner);
  const kept = await full.browser.visit(`/records/${owner.record}`);
  expect(kept.status).toBe(200);
  expect(textOf(kept.html)).toContain('Shared with you: Full');
}, 60_000);

test('a package is picked up only into a record the person may change: View only is not offered, View and change is', async () => {
  const owner = await signedUpPerson(server, 'Sam Pickup');
  const viewer = await signedUpPerson(server, 'Alex Pickup');
  const changer = await signedUpPerson(server, 'Kim Pickup');
  await answer(viewer, await invite(owner, owner.record, viewer.person.email, 'view'));
  await answer(changer, await invite(owner, owner.record, changer.person.email, 'change'));
  const clinic = await clinicApp(server, 'Sharing Clinic');

  // View only: their own record is the only one a package may go into, so no choice is asked.
  const forViewer = await clinic.dropOff();
  const reviewed = await answerQuestion(viewer.browser, await enterCode(viewer.browser, forViewer.pickup_code), ANSWER);
  expect(reviewed.url).toBe(`${server.issuer}/pickup/review`);
  expect(textOf(reviewed.html)).toContain('Alex Pickup');
  expect(textOf(reviewed.html)).not.toContain('Sam Pickup');

  // View and change: both records are offered.
  const forChanger = await clinic.dropOff();
  const choice = await answerQuestion(changer.browser, await enterCode(changer.browser, forChanger.pickup_code), ANSWER);
  expect(choice.url).toBe(`${server.issuer}/pickup/record`);
  expect(choice.html).toContain(`value="${owner.record}"`);
  expect(choice.html).toContain(`value="${changer.record}"`);
}, 60_000);

test('one person sends at most 20 invitations an hour: the next is refused in words and mails no one', async () => {
  const owner = await signedUpPerson(server, 'Sam Many');
  for (let n = 0; n < 20; n += 1) await invite(owner, owner.record, `many${n}@example.org`, 'view');
  const page = await owner.browser.visit(`/records/${owner.record}/sharing`);
  const refused = await owner.browser.request(`/records/${owner.record}/sharing`, {
    form: { _csrf: csrfOf(page), email: 'one.too.many@example.org', access: 'view', expires: '' },
  });
  const shown = refused.status === 303 ? await owner.browser.visit(refused.location ?? '') : refused;
  expect(textOf(shown.html)).toContain('You have sent 20 invitations in the last hour, as many as one person may.');
  expect(mailsIn(server.config.dataDir, 'one.too.many@example.org')).toEqual([]);
  expect(await server.db.knex('share_invitations').where({ email: 'one.too.many@example.org' })).toEqual([]);
}, 60_000);
