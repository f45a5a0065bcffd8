/**
 * The record page's charts and the grouped history: an app writes 30 weights, three
 * blood pressures and two glucose readings through the FHIR API; the record page draws one SVG
 * chart per kind, whose points (read back from the SVG) are the data, placed in time order and
 * on a linear scale, with the latest value in words beside it; the history page lists what
 * happened by day, every write a line of its own.
 */
import { Browser, textOf } from '../support/browser';
import { CALLBACK, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const loinc = (code: string, display: string) => ({ coding: [{ system: 'http://loinc.org', code, display }], text: display });
const DAY_MS = 24 * 3600 * 1000;
const FIRST_DAY = Date.parse('2026-01-01T07:30:00Z');

/** 30 daily weights going down and up again, to two decimals. */
const WEIGHTS = Array.from({ length: 30 }, (_, day) => ({
  at: new Date(FIRST_DAY + day * DAY_MS),
  kg: Math.round((80 - day * 0.3 + (day % 4) * 0.45) * 100) / 100,
}));

function weight({ at, kg }: { at: Date; kg: number }) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: loinc('29463-7', 'Body weight'),
    effectiveDateTime: at.toISOString(),
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}

function bloodPressure(at: string, systolic: number, diastolic: number) {
  const mmHg = (value: number) => ({ value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' });
  return {
    resourceType: 'Observation',
    status: 'final',
    code: loinc('85354-9', 'Blood pressure panel'),
    effectiveDateTime: at,
    component: [
      { code: loinc('8480-6', 'Systolic blood pressure'), valueQuantity: mmHg(systolic) },
      { code: loinc('8462-4', 'Diastolic blood pressure'), valueQuantity: mmHg(diastolic) },
    ],
  };
}

function glucose(at: string, value: number) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: loinc('2339-0', 'Glucose [Mass/volume] in Blood'),
    effectiveDateTime: at,
    valueQuantity: { value, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
  };
}

type Circle = { cx: number; cy: number; value: number; time: string; title: string };

/** The chart of one kind, as the page's SVG draws it. */
function chartOf(html: string, kind: string) {
  const figure = new RegExp(`<figure class="chart" data-kind="${kind}">([\\s\\S]*?)</figure>`).exec(html)?.[1];
  if (!figure) throw new Error(`no ${kind} chart on the page`);
  const attribute = (tag: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1] ?? '';
  const series = [...figure.matchAll(/<g class="chart-series" data-series="([^"]*)">([\s\S]*?)<\/g>/g)].map(([, name, body = '']) => ({
    name,
    line: /<polyline points="([^"]*)"/.exec(body)?.[1],
    circles: [...body.matchAll(/<circle([^>]*)><title>([^<]*)<\/title><\/circle>/g)].map(([, tag = '', title = '']): Circle => ({
      cx: Number(attribute(tag, 'cx')),
      cy: Number(attribute(tag, 'cy')),
      value: Number(attribute(tag, 'data-value')),
      time: attribute(tag, 'data-time'),
      title,
    })),
  }));
  return { figure, series, caption: textOf(/<figcaption>([\s\S]*?)<\/figcaption>/.exec(figure)?.[1] ?? '') };
}

/** True when every point lies on one straight line through the first and last (within rounding). */
function linear(pairs: [number, number][]): boolean {
  const [first, last] = [pairs[0], pairs.at(-1)];
  if (!first || !last || last[0] === first[0]) return false;
  const slope = (last[1] - first[1]) / (last[0] - first[0]);
  return pairs.every(([x, y]) => Math.abs(first[1] + slope * (x - first[0]) - y) < 0.02);
}

test('a record with 30 weights shows a chart whose points are the data; blood pressure and glucose get their own', async () => {
  const person = newPerson('Chris Charts');
  const browser = new Browser(server.issuer);
  const app = await registerTestApp(server, {
    client_name: 'Scale Sync',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [{ scope: 'patient/Observation.cruds', required: true, reason: 'Keep your weight' }],
  });
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.cruds' });
  const back = await authorizeInBrowser(browser, authorization.url, person, { register: true });
  const { access_token: token } = await exchangeCode(app, authorization, back.location ?? '');
  const post = async (resource: unknown) => {
    const res = await fetch(`${server.issuer}/fhir/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    expect(res.status).toBe(201);
  };
  // Written out of order: the chart orders by when each was measured, not when it was stored.
  for (const reading of [...WEIGHTS].reverse()) await post(weight(reading));
  await post(bloodPressure('2026-01-05T08:00:00Z', 128, 84));
  await post(bloodPressure('2026-01-12T08:00:00Z', 122, 80));
  await post(bloodPressure('2026-01-19T08:00:00Z', 118, 76));
  await post(glucose('2026-01-10T07:00:00Z', 96));
  await post(glucose('2026-01-20T07:00:00Z', 104));

  const recordId = await ownRecordOf(server, person.email);
  const page = await browser.visit(`/records/${recordId}`);
  expect(page.status).toBe(200);
  // No inline script and no inline style: the page works under the strict CSP (the time-zone script is a file of its own).
  expect(page.html).not.toMatch(/<script(?![^>]*\ssrc="\/static\/)|\sstyle=/);

  const weights = chartOf(page.html, 'weight');
  expect(weights.series).toHaveLength(1);
  const [series] = weights.series;
  const circles = series?.circles ?? [];
  expect(circles).toHaveLength(30);
  // The points are the data, in time order.
  expect(circles.map((circle) => circle.value)).toEqual(WEIGHTS.map((reading) => reading.kg));
  expect(circles.map((circle) => circle.time)).toEqual(WEIGHTS.map((reading) => reading.at.toISOString()));
  const latest = WEIGHTS[29]?.kg;
  expect(circles[29]?.title).toBe(`Weight: ${latest} kg on 30 January 2026`);
  // Placed on linear scales: x by time (left to right), y by value (higher is up).
  expect(linear(circles.map((circle) => [Date.parse(circle.time), circle.cx]))).toBe(true);
  expect(linear(circles.map((circle) => [circle.value, circle.cy]))).toBe(true);
  expect(circles[29]!.cx).toBeGreaterThan(circles[0]!.cx);
  const heaviest = circles.reduce((a, b) => (b.value > a.value ? b : a));
  const lightest = circles.reduce((a, b) => (b.value < a.value ? b : a));
  expect(heaviest.cy).toBeLessThan(lightest.cy);
  // The line joins the same points.
  expect(series?.line).toBe(circles.map((circle) => `${circle.cx},${circle.cy}`).join(' '));
  // The latest value and unit in words beside the chart; a text alternative for the drawing.
  expect(weights.caption).toContain(`Latest: ${latest} kilograms, on 30 January 2026`);
  const kgs = WEIGHTS.map((reading) => reading.kg);
  expect(weights.figure).toContain(
    `<desc id="chart-0-desc">30 readings from 1 January 2026 to 30 January 2026, between ${Math.min(...kgs)} and ${Math.max(...kgs)} kilograms.</desc>`,
  );

  const pressure = chartOf(page.html, 'blood-pressure');
  expect(pressure.series.map((one) => one.name)).toEqual(['Systolic', 'Diastolic']);
  expect(pressure.series[0]?.circles.map((circle) => circle.value)).toEqual([128, 122, 118]);
  expect(pressure.series[1]?.circles.map((circle) => circle.value)).toEqual([84, 80, 76]);
  expect(pressure.caption).toContain('Latest: 118/76 millimetres of mercury, on 19 January 2026');

  const sugar = chartOf(page.html, 'glucose');
  expect(sugar.series[0]?.circles.map((circle) => circle.value)).toEqual([96, 104]);
  expect(sugar.caption).toContain('Latest: 104 milligrams per decilitre, on 20 January 2026');

  // One chart per kind, in that order.
  expect([...page.html.matchAll(/<figure class="chart" data-kind="([^"]+)"/g)].map((match) => match[1])).toEqual(['weight', 'blood-pressure', 'glucose']);

  // The history lists what happened by day, every write and the grant a line of their own (nothing folded away).
  const history = await browser.visit(`/records/${recordId}/history`);
  const today = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date());
  expect(textOf(history.html)).toContain(today);
  expect(history.html).not.toContain('<details');
  expect(textOf(history.html).match(/Scale Sync added 1 observation/g)).toHaveLength(35);
  expect(textOf(history.html)).toContain('Chris Charts allowed Scale Sync to reach this record');
}, 120_000);
