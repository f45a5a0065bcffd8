/**
 * The record page's chart geometry (src/records/charts.ts): which observations are charted, how
 * kinds and units are kept apart, and the drawing of edge cases (one reading, equal values).
 */
import { CHART_SIZE, chartsOf } from '../../src/records/charts';

const loinc = (code: string, display: string) => ({ coding: [{ system: 'http://loinc.org', code, display }] });
const quantity = (value: number, code: string) => ({ value, unit: code, system: 'http://unitsofmeasure.org', code });
const observation = (fields: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', ...fields });

test('one reading is drawn in the middle, with a range around it and the latest in words', () => {
  const [chart] = chartsOf([
    observation({ code: loinc('29463-7', 'Body weight'), effectiveDateTime: '2026-05-04T10:00:00Z', valueQuantity: quantity(70, 'kg') }),
  ]);
  expect(chart?.title).toBe('Weight');
  const point = chart?.series[0]?.points[0];
  expect(point?.x).toBe(CHART_SIZE.left + (CHART_SIZE.width - CHART_SIZE.left - CHART_SIZE.right) / 2);
  expect(point?.y).toBeGreaterThan(CHART_SIZE.top);
  expect(point?.y).toBeLessThan(CHART_SIZE.height - CHART_SIZE.bottom);
  expect(chart?.latest).toBe('70 kilograms, on 4 May 2026');
  expect(chart?.description).toBe('One reading: 70 kilograms, on 4 May 2026.');
});

test('equal values sit on one horizontal line', () => {
  const [chart] = chartsOf(
    ['2026-01-01', '2026-01-02', '2026-01-03'].map((day) =>
      observation({ code: loinc('8867-4', 'Heart rate'), effectiveDateTime: day, valueQuantity: quantity(60, '/min') }),
    ),
  );
  expect(new Set(chart?.series[0]?.points.map((point) => point.y)).size).toBe(1);
  expect(chart?.latest).toBe('60 beats per minute, on 3 January 2026');
});

test('kilograms and pounds are separate charts; entered-in-error, text values and undated ones are left out', () => {
  const charts = chartsOf([
    observation({ code: loinc('29463-7', 'Body weight'), effectiveDateTime: '2026-01-01', valueQuantity: quantity(70, 'kg') }),
    observation({ code: loinc('29463-7', 'Body weight'), effectiveDateTime: '2026-01-02', valueQuantity: quantity(154, '[lb_av]') }),
    observation({ status: 'entered-in-error', code: loinc('29463-7', 'Body weight'), effectiveDateTime: '2026-01-03', valueQuantity: quantity(999, 'kg') }),
    observation({ code: loinc('29463-7', 'Body weight'), valueQuantity: quantity(71, 'kg') }),
    observation({ code: loinc('72166-2', 'Tobacco smoking status'), effectiveDateTime: '2026-01-01', valueString: 'Never smoker' }),
  ]);
  expect(charts.map((chart) => [chart.title, chart.unit, chart.series[0]?.points.map((point) => point.value)])).toEqual([
    ['Weight', 'kg', [70]],
    ['Weight', 'lb', [154]],
  ]);
});

test('a blood pressure without both parts is left out; other numeric kinds are charted by their name', () => {
  const charts = chartsOf([
    observation({
      code: loinc('85354-9', 'Blood pressure'),
      effectiveDateTime: '2026-01-01',
      component: [{ code: loinc('8480-6', 'Systolic'), valueQuantity: quantity(120, 'mm[Hg]') }],
    }),
    observation({ code: { text: 'Peak flow' }, effectiveDateTime: '2026-01-01', valueQuantity: quantity(420, 'L/min') }),
  ]);
  expect(charts.map((chart) => chart.title)).toEqual(['Peak flow']);
  expect(charts[0]?.latest).toBe('420 L/min, on 1 January 2026');
});
