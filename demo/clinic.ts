/**
 * Demo Clinic, the app (demo/app.ts runs it in its own process; the README walk test in-process):
 * a plain relying party on openid-client that exercises every HealthVault option against carevault — web-based authorization (then the person's weights, one added, an offline
 * refresh), DOPU (a drop-off with its pickup code), Patient Connect (a connect request, polled
 * until the person approves) and Direct (a message with a PDF). One person at a time: it keeps its
 * state in memory, as a demo may.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import * as oidc from 'openid-client';
import { esc, form, page } from './pages';
import { SAMPLE_PDF_BASE64, labResults, weightObservation } from './samples';

export type DemoSettings = { carevault: string; port: number; clientId: string; clientSecret: string };

/** What the clinic reads of an Observation to list it. */
type Observation = {
  code?: { text?: string; coding?: { display?: string }[] };
  valueQuantity?: { value?: number; unit?: string };
  effectiveDateTime?: string;
};
type Connection = { tokens: oidc.TokenEndpointResponse; refreshedAt?: Date; note?: string };

const QUESTION = 'What was the name of your first pet?';
const ANSWER = 'Biscuit';

/** Demo Clinic's express app, for carevault at `settings.carevault`; it listens wherever it is mounted. */
export async function createDemoClinic(settings: DemoSettings): Promise<express.Express> {
  const CALLBACK = `http://localhost:${settings.port}/callback`;
  // One person at a time: the demo's state is in memory.
  const state: {
    pending?: { verifier: string; state: string };
    web?: Connection;
    package?: { id: string; pickup_code: string; pickup_url: string; expires_at: string };
    packageError?: string;
    connect?: { request: oidc.DeviceAuthorizationResponse; status: 'waiting' | 'approved' | 'refused'; tokens?: oidc.TokenEndpointResponse; error?: string };
    direct?: { id?: string; to: string; error?: string };
  } = {};

  const config = await oidc.discovery(new URL(settings.carevault), settings.clientId, undefined, oidc.ClientSecretBasic(settings.clientSecret), {
    execute: [oidc.allowInsecureRequests],
  });
  const fhir = (token: string, path: string, init: RequestInit = {}) =>
    fetch(`${settings.carevault}/fhir/${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', ...init.headers },
    });
  const appToken = async (scope: string) => (await oidc.clientCredentialsGrant(config, { scope })).access_token;

  const app = express();
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  // What carevault's consent page links to: the app's logo, privacy policy and terms.
  app.get('/logo.svg', (_req, res) => {
    res
      .type('image/svg+xml')
      .send(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 56 56"><rect width="56" height="56" rx="12" fill="#1d4ed8"/><path d="M24 12h8v12h12v8H32v12h-8V32H12v-8h12z" fill="#fff"/></svg>',
      );
  });
  app.get('/privacy', (_req, res) => {
    res
      .type('html')
      .send(
        page(
          'Privacy policy',
          '<h2>Privacy policy</h2><p>Demo Clinic keeps what carevault shares with it in memory only, and forgets it when it stops.</p><p><a href="/">Back</a></p>',
        ),
      );
  });
  app.get('/terms', (_req, res) => {
    res
      .type('html')
      .send(
        page('Terms of use', '<h2>Terms of use</h2><p>Demo Clinic is a demonstration: do not use it with real health data.</p><p><a href="/">Back</a></p>'),
      );
  });

  app.get('/', async (_req, res) => {
    const sections = [await webSection(), await dopuSection(), connectSection(), directSection()];
    res.type('html').send(page('Home', sections.join('\n'), state.connect?.status === 'waiting' ? 3 : undefined));
  });

  // --- Web-based authorization ----------------------------------------------------------------
  app.get('/connect/start', async (_req, res) => {
    const verifier = oidc.randomPKCECodeVerifier();
    state.pending = { verifier, state: oidc.randomState() };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile launch/patient patient/Observation.cruds patient/Condition.rs offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: state.pending.state,
      aud: `${settings.carevault}/fhir`,
    });
    res.redirect(303, url.toString());
  });

  app.get('/callback', async (req, res) => {
    try {
      const tokens = await oidc.authorizationCodeGrant(config, new URL(req.originalUrl, `http://localhost:${settings.port}`), {
        pkceCodeVerifier: state.pending?.verifier,
        expectedState: state.pending?.state,
      });
      state.web = { tokens };
    } catch (error) {
      state.web = undefined;
      res
        .type('html')
        .send(
          page(
            'Not connected',
            `<p class="error">carevault did not connect: ${esc((error as { error_description?: string }).error_description ?? (error as Error).message)}.</p><p><a href="/">Back</a></p>`,
          ),
        );
      return;
    }
    res.redirect(303, '/');
  });

  app.post('/weight', async (req, res) => {
    const kg = Number(req.body?.kg);
    if (state.web && Number.isFinite(kg) && kg > 0 && kg < 500) {
      const created = await fhir(state.web.tokens.access_token, 'Observation', { method: 'POST', body: JSON.stringify(weightObservation(kg)) });
      state.web.note = created.ok ? `Added ${kg} kg to your record.` : `carevault refused the weight (${created.status}).`;
    }
    res.redirect(303, '/');
  });

  app.post('/refresh', async (_req, res) => {
    if (state.web?.tokens.refresh_token) {
      try {
        state.web = {
          tokens: await oidc.refreshTokenGrant(config, state.web.tokens.refresh_token),
          refreshedAt: new Date(),
          note: 'New tokens from the refresh token (the old one is used up).',
        };
      } catch (error) {
        state.web = {
          ...state.web,
          note: `The refresh was refused: ${(error as { error?: string }).error ?? 'error'} — perhaps you removed Demo Clinic's access.`,
        };
      }
    }
    res.redirect(303, '/');
  });

  async function webSection(): Promise<string> {
    const head = '<h2>1. Connect to carevault</h2>';
    if (!state.web) {
      return `${head}<p class="next">Click <strong>Connect to carevault</strong>. carevault asks you to sign in (or create an account), shows what Demo Clinic asks for — untick what you do not want, choose the record — and sends you back here.</p>${form('/connect/start', 'Connect to carevault').replace('method="post"', 'method="get"')}`;
    }
    const { tokens } = state.web;
    const search = await fhir(tokens.access_token, 'Observation?_count=20');
    const bundle = search.ok ? ((await search.json()) as { total?: number; entry?: { resource: Observation }[] }) : undefined;
    const rows = (bundle?.entry ?? [])
      .map(
        ({ resource }) =>
          `<tr><td>${esc(resource.code?.text ?? resource.code?.coding?.[0]?.display ?? 'Observation')}</td><td>${esc(resource.valueQuantity?.value)} ${esc(resource.valueQuantity?.unit)}</td><td>${esc(String(resource.effectiveDateTime ?? '').slice(0, 10))}</td></tr>`,
      )
      .join('');
    return `${head}
<p class="ok">Connected to record <span class="code">${esc(tokens.patient)}</span> with: ${esc(tokens.scope)}.</p>
${state.web.note ? `<p>${esc(state.web.note)}</p>` : ''}
${search.ok ? `<p>${esc(bundle?.total ?? 0)} observations in the record.</p><table><thead><tr><th>What</th><th>Value</th><th>Date</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="error">Reading the record failed (${search.status}): the access may have been removed on carevault's Connected apps page.</p>`}
${form('/weight', 'Add a weight', '<label for="kg">Weight (kg)</label><input id="kg" name="kg" type="number" step="0.1" min="1" max="499" value="72.5" required>')}
${tokens.refresh_token ? `<p>Offline access: Demo Clinic holds a refresh token${state.web.refreshedAt ? `, last used ${esc(state.web.refreshedAt.toISOString().slice(11, 19))} UTC` : ''}. Sign out of carevault and refresh: it still works.</p>${form('/refresh', 'Refresh now (offline)')}` : '<p>You did not allow offline access, so Demo Clinic got no refresh token.</p>'}
<p class="next">Next: on carevault, open <em>Records</em> to see the weight, and <em>Connected apps</em> to remove Demo Clinic's access.</p>`;
  }

  // --- DOPU ------------------------------------------------------------------------------------
  app.post('/dropoff', async (_req, res) => {
    const created = await fetch(`${settings.carevault}/api/dopu/packages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await appToken('dopu')}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        friendly_name: 'Your results from Demo Clinic',
        question: QUESTION,
        answer: ANSWER,
        external_id: randomUUID(),
        resources: labResults(),
      }),
    });
    const answer = (await created.json().catch(() => ({}))) as Record<string, unknown>;
    state.package = created.ok ? (answer as NonNullable<typeof state.package>) : undefined;
    state.packageError = created.ok
      ? undefined
      : `carevault refused the package (${created.status}): ${String(answer.error_description ?? answer.error ?? 'no reason given')}`;
    res.redirect(303, '/');
  });

  async function dopuSection(): Promise<string> {
    const head =
      '<h2>2. Drop off results (DOPU)</h2><p>Demo Clinic has no access to your record, yet can hand you results: a package guarded by a secret question.</p>';
    if (!state.package) return `${head}${state.packageError ? `<p class="error">${esc(state.packageError)}</p>` : ''}${form('/dropoff', 'Drop off results')}`;
    const status = await fetch(`${settings.carevault}/api/dopu/packages/${state.package.id}`, {
      headers: { authorization: `Bearer ${await appToken('dopu')}` },
    });
    const { status: packageStatus } = status.ok ? ((await status.json()) as { status: string }) : { status: 'unknown' };
    return `${head}
<p>Package dropped off. Status: <strong>${esc(packageStatus)}</strong> (reload to see it change).</p>
<p>Pickup code: <span class="code">${esc(state.package.pickup_code)}</span><br>Question: ${esc(QUESTION)} — answer: <strong>${esc(ANSWER)}</strong></p>
<p class="next">Open <a href="${esc(state.package.pickup_url)}">${esc(state.package.pickup_url)}</a>, sign in, answer the question, choose a record, review and <strong>Accept</strong>.</p>
${form('/dropoff', 'Drop off another package')}`;
  }

  // --- Patient Connect -------------------------------------------------------------------------
  app.post('/connect-request', async (_req, res) => {
    try {
      const request = await oidc.initiateDeviceAuthorization(config, {
        scope: 'patient/Observation.cruds offline_access',
        external_id: `DEMO-${Date.now()}`,
        friendly_name: 'You, at Demo Clinic today',
        question: QUESTION,
        answer: ANSWER,
      });
      state.connect = { request, status: 'waiting' };
      const current = state.connect;
      // openid-client bounds its polling by expires_in (28 days overflows a timer): bound it here.
      oidc
        .pollDeviceAuthorizationGrant(config, request, undefined, { signal: AbortSignal.timeout(30 * 60 * 1000) })
        .then((tokens) => Object.assign(current, { status: 'approved', tokens }))
        .catch((error: { error?: string; message?: string }) => Object.assign(current, { status: 'refused', error: error.error ?? error.message }));
    } catch {
      state.connect = undefined;
    }
    res.redirect(303, '/');
  });

  function connectSection(): string {
    const head =
      '<h2>3. Create a connect request (Patient Connect)</h2><p>For a clinic with no website: you get an identity code in person; at home you validate it, and the clinic can then keep your record up to date.</p>';
    const current = state.connect;
    if (!current) return `${head}${form('/connect-request', 'Create a connect request')}`;
    if (current.status === 'waiting') {
      return `${head}<p>Identity code: <span class="code">${esc(current.request.user_code)}</span><br>Question: ${esc(QUESTION)} — answer: <strong>${esc(ANSWER)}</strong></p>
<p class="next">Open <a href="${esc(current.request.verification_uri_complete)}">${esc(current.request.verification_uri)}</a>, sign in, answer, choose the record and <strong>Allow</strong>. This page checks every few seconds.</p>`;
    }
    if (current.status === 'refused')
      return `${head}<p class="error">The request ended: ${esc(current.error)}.</p>${form('/connect-request', 'Create another connect request')}`;
    return `${head}<p class="ok">Approved. Demo Clinic now holds offline tokens for record <span class="code">${esc(current.tokens?.patient)}</span> (${esc(current.tokens?.scope)}).</p>${form('/connect-request', 'Create another connect request')}`;
  }

  // --- Direct ----------------------------------------------------------------------------------
  app.post('/direct', async (req, res) => {
    const to = typeof req.body?.to === 'string' ? req.body.to.trim() : '';
    const sent = await fetch(`${settings.carevault}/api/direct/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await appToken('direct')}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to,
        subject: 'Your lab results',
        text: 'Hello,\n\nYour lab results from today are attached.\n\nDemo Clinic',
        attachments: [{ filename: 'lab-results.pdf', content_type: 'application/pdf', data: SAMPLE_PDF_BASE64 }],
      }),
    });
    const body = (await sent.json().catch(() => ({}))) as { id?: string; error_description?: string };
    state.direct = sent.ok ? { id: body.id, to } : { to, error: body.error_description ?? `carevault answered ${sent.status}` };
    res.redirect(303, '/');
  });

  function directSection(): string {
    const head =
      '<h2>4. Send a Direct message</h2><p>Every record has a Direct address (see <em>Records</em> on carevault). Demo Clinic sends one a message with a PDF.</p>';
    const note = state.direct?.id
      ? `<p class="ok">Sent to ${esc(state.direct.to)}.</p><p class="next">Open <em>Inbox</em> on carevault, read it, and <strong>Add to record</strong> the PDF.</p>`
      : state.direct?.error
        ? `<p class="error">${esc(state.direct.error)}</p>`
        : '';
    return `${head}${note}${form('/direct', 'Send', `<label for="to">To</label><input id="to" name="to" type="email" required placeholder="sam.lee@direct.localhost" value="${esc(state.direct?.to)}">`)}`;
  }

  return app;
}
