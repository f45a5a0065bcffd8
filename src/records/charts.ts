/**
 * Charts of a record's numeric observations over time, for the record page: one small chart per
 * kind (weight, blood pressure, glucose, … — FHIR R4 Observation `valueQuantity` and, for blood
 * pressure, `component`; https://hl7.org/fhir/R4/observation-vitalsigns.html), with the latest value
 * in words beside it. Pure: resources in, chart geometry out. The view draws the geometry as inline
 * SVG on the server, so a chart needs no script and passes the strict CSP.
 */

type Json = Record<string, unknown>;

/** Kinds people recognise, by LOINC code; other numeric observations are charted by their own name. */
const KNOWN_KINDS: readonly { key: string; name: string; codes: readonly string[] }[] = [
  { key: 'weight', name: 'Weight', codes: ['29463-7', '3141-9'] },
  { key: 'blood-pressure', name: 'Blood pressure', codes: ['85354-9', '55284-4', '35094-2'] },
  { key: 'glucose', name: 'Glucose', codes: ['2339-0', '2345-7', '15074-8', '14749-6', '41653-7', '1558-6', '2340-8'] },
  { key: 'heart-rate', name: 'Heart rate', codes: ['8867-4'] },
  { key: 'height', name: 'Height', codes: ['8302-2', '8306-3'] },
  { key: 'temperature', name: 'Body temperature', codes: ['8310-5'] },
  { key: 'bmi', name: 'Body mass index', codes: ['39156-5'] },
];

/** Blood pressure's two series, by component code. */
const BLOOD_PRESSURE_PARTS: readonly { code: string; name: string }[] = [
  { code: '8480-6', name: 'Systolic' },
  { code: '8462-4', name: 'Diastolic' },
];

/** UCUM units in words (https://ucum.org); others are shown as written. */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  kg: 'kilograms',
  g: 'grams',
  '[lb_av]': 'pounds',
  lb: 'pounds',
  'mm[Hg]': 'millimetres of mercury',
  mmHg: 'millimetres of mercury',
  'mg/dL': 'milligrams per decilitre',
  'mmol/L': 'millimoles per litre',
  '/min': 'beats per minute',
  '{beats}/min': 'beats per minute',
  Cel: 'degrees Celsius',
  '[degF]': 'degrees Fahrenheit',
  cm: 'centimetres',
  m: 'metres',
  '[in_i]': 'inches',
  'kg/m2': 'kilograms per square metre',
  '%': 'percent',
};

/** How units are shown next to numbers (UCUM's bracketed codes are not for people). */
const UNIT_LABELS: Readonly<Record<string, string>> = { '[lb_av]': 'lb', 'mm[Hg]': 'mmHg', Cel: '°C', '[degF]': '°F', '[in_i]': 'in', '{beats}/min': '/min' };

/** Most charts a record page shows, and most points per chart (the newest). */
const MAX_CHARTS = 8;
const MAX_POINTS = 200;

// The drawing area, in SVG user units (the chart scales to the page's width).
export const CHART_SIZE = { width: 320, height: 150, left: 44, right: 12, top: 12, bottom: 28 } as const;

type ChartPoint = { at: Date; value: number; x: number; y: number; label: string };
type ChartSeries = { name: string; points: ChartPoint[]; line: string; colour: string };
export type Chart = {
  key: string;
  title: string;
  unit: string;
  series: ChartSeries[];
  /** "72.5 kilograms, on 2 March 2026". */
  latest: string;
  /** One sentence for people who cannot see the chart. */
  description: string;
  yTicks: { y: number; label: string }[];
  xTicks: { x: number; label: string; anchor: 'start' | 'end' }[];
  size: typeof CHART_SIZE;
};

/** Colours with at least 4.5:1 contrast on white, told apart by shape as well (filled, hollow). */
const COLOURS = ['#0b6e4f', '#1d4ed8'];

type Reading = { at: Date; values: number[] };
type Kind = { key: string; title: string; unit: string; seriesNames: string[]; readings: Reading[] };

function codingsOf(concept: unknown): { system?: string; code?: string; display?: string }[] {
  const codings = (concept as { coding?: unknown } | undefined)?.coding;
  return Array.isArray(codings) ? (codings as { system?: string; code?: string; display?: string }[]) : [];
}

function loincCodes(concept: unknown): string[] {
  return codingsOf(concept)
    .filter((coding) => coding.system === 'http://loinc.org' && typeof coding.code === 'string')
    .map((coding) => coding.code as string);
}

function nameOf(concept: unknown): string | undefined {
  const text = (concept as { text?: unknown } | undefined)?.text;
  if (typeof text === 'string' && text.trim()) return text.trim();
  return codingsOf(concept)
    .find((coding) => typeof coding.display === 'string' && coding.display.trim())
    ?.display?.trim();
}

function quantityOf(value: unknown): { value: number; unit: string } | undefined {
  const quantity = value as { value?: unknown; unit?: unknown; code?: unknown } | undefined;
  if (typeof quantity?.value !== 'number' || !Number.isFinite(quantity.value)) return undefined;
  const unit = typeof quantity.code === 'string' ? quantity.code : typeof quantity.unit === 'string' ? quantity.unit : '';
  return { value: quantity.value, unit };
}

/** When the observation was made: effective[x], else issued, else when it was stored. */
function timeOf(observation: Json): Date | undefined {
  const period = observation.effectivePeriod as { start?: unknown } | undefined;
  const meta = observation.meta as { lastUpdated?: unknown } | undefined;
  for (const candidate of [observation.effectiveDateTime, observation.effectiveInstant, period?.start, observation.issued, meta?.lastUpdated]) {
    if (typeof candidate !== 'string') continue;
    const at = new Date(candidate);
    if (!Number.isNaN(at.getTime())) return at;
  }
  return undefined;
}

/** The kind and values of one observation, or nothing when it has no number to chart. */
function readingOf(observation: Json): { key: string; title: string; unit: string; seriesNames: string[]; reading: Reading } | undefined {
  if (observation.resourceType !== 'Observation' || observation.status === 'entered-in-error') return undefined;
  const at = timeOf(observation);
  if (!at) return undefined;
  const codes = loincCodes(observation.code);
  const known = KNOWN_KINDS.find((kind) => kind.codes.some((code) => codes.includes(code)));
  if (known?.key === 'blood-pressure' || (!known && Array.isArray(observation.component))) {
    const components = Array.isArray(observation.component) ? (observation.component as Json[]) : [];
    if (known?.key === 'blood-pressure') {
      const parts = BLOOD_PRESSURE_PARTS.map((part) =>
        quantityOf(components.find((component) => loincCodes(component.code).includes(part.code))?.valueQuantity),
      );
      if (parts.some((part) => !part)) return undefined;
      const [systolic, diastolic] = parts as { value: number; unit: string }[];
      return {
        key: known.key,
        title: known.name,
        unit: systolic?.unit ?? '',
        seriesNames: BLOOD_PRESSURE_PARTS.map((part) => part.name),
        reading: { at, values: [systolic?.value ?? 0, diastolic?.value ?? 0] },
      };
    }
  }
  const quantity = quantityOf(observation.valueQuantity);
  if (!quantity) return undefined;
  const title = known?.name ?? nameOf(observation.code);
  if (!title) return undefined;
  const key = known?.key ?? `code:${codes[0] ?? title.toLowerCase()}`;
  return { key, title, unit: quantity.unit, seriesNames: [title], reading: { at, values: [quantity.value] } };
}

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const SHORT_DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: '2-digit', timeZone: 'UTC' });

function unitLabel(unit: string): string {
  return UNIT_LABELS[unit] ?? unit;
}

function unitWords(unit: string): string {
  return UNIT_WORDS[unit] ?? unit;
}

/** A number as people write it: no float noise, at most two decimals. */
function numberText(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Round tick values spanning min..max (about four of them). */
function niceTicks(min: number, max: number): number[] {
  const span = max - min;
  const rough = span / 3;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough) ?? rough;
  const ticks: number[] = [];
  for (let tick = Math.ceil(min / step) * step; tick <= max + step / 1e6; tick += step) ticks.push(Math.round(tick / step) * step);
  return ticks;
}

function drawKind(kind: Kind): Chart {
  const size = CHART_SIZE;
  const readings = [...kind.readings].sort((a, b) => a.at.getTime() - b.at.getTime()).slice(-MAX_POINTS);
  const values = readings.flatMap((reading) => reading.values);
  let low = Math.min(...values);
  let high = Math.max(...values);
  // Room above and below, and a visible range when every value is the same.
  const pad = high > low ? (high - low) * 0.1 : Math.max(Math.abs(high) * 0.05, 1);
  low -= pad;
  high += pad;
  const first = readings[0]?.at.getTime() ?? 0;
  const last = readings.at(-1)?.at.getTime() ?? 0;
  const plotWidth = size.width - size.left - size.right;
  const plotHeight = size.height - size.top - size.bottom;
  const xOf = (at: Date) => (last > first ? size.left + ((at.getTime() - first) / (last - first)) * plotWidth : size.left + plotWidth / 2);
  const yOf = (value: number) => size.top + ((high - value) / (high - low)) * plotHeight;
  const round = (n: number) => Math.round(n * 100) / 100;
  const unit = unitLabel(kind.unit);

  const series = kind.seriesNames.map((name, index) => {
    const points = readings.map((reading) => {
      const value = reading.values[index] ?? 0;
      return {
        at: reading.at,
        value,
        x: round(xOf(reading.at)),
        y: round(yOf(value)),
        label: `${name}: ${numberText(value)} ${unit} on ${DAY.format(reading.at)}`,
      };
    });
    return { name, points, line: points.map((point) => `${point.x},${point.y}`).join(' '), colour: COLOURS[index % COLOURS.length] ?? '#0b6e4f' };
  });

  const newest = readings.at(-1) as Reading;
  const latestValue = newest.values.map(numberText).join('/');
  const latest = `${latestValue} ${unitWords(kind.unit)}, on ${DAY.format(newest.at)}`;
  const range = `${numberText(Math.min(...values))} and ${numberText(Math.max(...values))} ${unitWords(kind.unit)}`;
  const description =
    readings.length === 1
      ? `One reading: ${latest}.`
      : `${readings.length} readings from ${DAY.format(readings[0]?.at ?? newest.at)} to ${DAY.format(newest.at)}, between ${range}.`;

  return {
    key: kind.key,
    title: kind.title,
    unit,
    series,
    latest,
    description,
    yTicks: niceTicks(low, high).map((value) => ({ y: round(yOf(value)), label: numberText(value) })),
    xTicks:
      readings.length > 1
        ? [
            { x: size.left, label: SHORT_DAY.format(readings[0]?.at ?? newest.at), anchor: 'start' },
            { x: size.width - size.right, label: SHORT_DAY.format(newest.at), anchor: 'end' },
          ]
        : [{ x: size.left, label: SHORT_DAY.format(newest.at), anchor: 'start' }],
    size,
  };
}

/** The charts for a record's observations: known kinds first (weight, blood pressure, glucose, …), then others by name. */
export function chartsOf(observations: readonly Json[]): Chart[] {
  const kinds = new Map<string, Kind>();
  for (const observation of observations) {
    const found = readingOf(observation);
    if (!found) continue;
    // Readings in different units are different charts (kilograms and pounds do not share an axis).
    const key = `${found.key}|${found.unit}`;
    const kind = kinds.get(key) ?? { key: found.key, title: found.title, unit: found.unit, seriesNames: found.seriesNames, readings: [] };
    kind.readings.push(found.reading);
    kinds.set(key, kind);
  }
  const order = (kind: Kind) => {
    const index = KNOWN_KINDS.findIndex((known) => known.key === kind.key);
    return index === -1 ? KNOWN_KINDS.length : index;
  };
  return [...kinds.values()]
    .sort((a, b) => order(a) - order(b) || b.readings.length - a.readings.length || a.title.localeCompare(b.title))
    .slice(0, MAX_CHARTS)
    .map(drawKind);
}
