/**
 * Reading C-CDA documents into record items (src/documents/reading.ts): every kind of entry
 * carevault relies on comes out as a valid FHIR R4 resource with its code system, the converter's
 * known faults corrected (CVX system, every problem of a concern, medicines as statements, lab
 * panels as reports), and unsafe, malformed, non-C-CDA and oversized documents refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import { acceptResource } from '../../src/fhir/acceptance';
import { convertInWorker } from '../../src/documents/converter';
import { fixDateTime } from '../../src/documents/items';
import { MAX_DOCUMENT_BYTES, readClinicalDocument } from '../../src/documents/reading';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/ccda', name), 'utf8');

type Json = Record<string, unknown>;
const codesOf = (concept: unknown) => ((concept as { coding?: { system: string; code: string }[] }).coding ?? []).map((c) => `${c.system}|${c.code}`);

describe('a CCD', () => {
  let read: Awaited<ReturnType<typeof readClinicalDocument>>;
  beforeAll(async () => {
    read = await readClinicalDocument(fixture('ccd.xml'));
  });

  test('its header: title, date and the clinic that made it', () => {
    expect(read.title).toBe('Visit summary from Lakeside Family Clinic');
    expect(read.date).toBe('2026-03-02T10:15:00-05:00');
    expect(read.madeBy).toBe('Lakeside Family Clinic');
  });

  test('every problem of a concern is a Condition (SNOMED CT), with its onset', () => {
    const problems = read.items.filter((item) => item.kind === 'problems');
    expect(problems.map((item) => codesOf(item.resource.code)[0])).toEqual(
      expect.arrayContaining(['http://snomed.info/sct|59621000', 'http://snomed.info/sct|44054006']),
    );
    expect(problems).toHaveLength(2);
    expect(problems.find((item) => codesOf(item.resource.code)[0]?.endsWith('44054006'))?.resource.onsetDateTime).toBe('2025-03-20');
  });

  test('a medicine is a MedicationStatement coded in RxNorm', () => {
    const [medicine] = read.items.filter((item) => item.kind === 'medicines');
    expect(medicine?.resource.resourceType).toBe('MedicationStatement');
    expect(codesOf(medicine?.resource.medicationCodeableConcept)).toContain('http://www.nlm.nih.gov/research/umls/rxnorm|314076');
  });

  test('an allergy to a drug is a medication allergy', () => {
    const [allergy] = read.items.filter((item) => item.kind === 'allergies');
    expect(codesOf(allergy?.resource.code)).toContain('http://www.nlm.nih.gov/research/umls/rxnorm|7980');
    expect(allergy?.resource.category).toEqual(['medication']);
  });

  test("an immunization's CVX code is under FHIR's CVX system", () => {
    const [immunization] = read.items.filter((item) => item.kind === 'immunizations');
    expect(codesOf(immunization?.resource.vaccineCode)).toEqual(['http://hl7.org/fhir/sid/cvx|140']);
    expect(immunization?.resource.occurrenceDateTime).toBe('2025-10-14');
    expect(immunization?.resource.lotNumber).toBe('FLU2025A');
  });

  test('a results panel is a DiagnosticReport over its LOINC results', () => {
    const results = read.items.filter((item) => item.kind === 'results');
    const report = results.find((item) => item.type === 'DiagnosticReport');
    const observations = results.filter((item) => item.type === 'Observation');
    expect(observations.map((item) => codesOf(item.resource.code)[0])).toEqual(['http://loinc.org|2345-7', 'http://loinc.org|2823-3']);
    expect(observations[0]?.resource.valueQuantity).toEqual({ value: 131, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    expect(codesOf(report?.resource.code)).toEqual(['http://loinc.org|51990-0']);
    expect(report?.resource.result).toEqual(observations.map((item) => ({ reference: `Observation/${item.id}` })));
  });

  test('vital signs are Observations of the vital-signs category, the organizer left out', () => {
    const vitals = read.items.filter((item) => item.kind === 'vital-signs');
    expect(vitals.map((item) => codesOf(item.resource.code)[0])).toEqual(['http://loinc.org|29463-7', 'http://loinc.org|8302-2']);
    expect(vitals[0]?.resource.effectiveDateTime).toBe('2026-03-02T09:30:00-05:00');
  });

  test('an encounter keeps its CPT code as its type and is ambulatory', () => {
    const [encounter] = read.items.filter((item) => item.kind === 'encounters');
    expect(encounter?.resource.class).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' });
    expect(codesOf((encounter?.resource.type as Json[])[0])).toEqual(['http://www.ama-assn.org/go/cpt|99213']);
    expect(encounter?.resource.status).toBe('finished');
  });

  test('a procedure is a Procedure coded in SNOMED CT', () => {
    const [procedure] = read.items.filter((item) => item.kind === 'procedures');
    expect(codesOf(procedure?.resource.code)).toEqual(['http://snomed.info/sct|29303009']);
  });

  test('every item passes the record acceptance', () => {
    for (const item of read.items) expect(() => acceptResource(item.resource, { type: item.type, record: { id: 'r1' } })).not.toThrow();
    expect(read.items.map((item) => item.words)).toContain('Type 2 diabetes mellitus on 20 Mar 2025');
  });
});

test('a discharge summary, whose header, diagnoses and discharge medicines the converter fails on, is read whole', async () => {
  const read = await readClinicalDocument(fixture('discharge-summary.xml'));
  expect(read.title).toBe('Discharge summary');
  expect(read.skippedSections).toEqual([]);
  const problems = read.items.filter((item) => item.kind === 'problems').map((item) => codesOf(item.resource.code));
  expect(problems).toEqual([['http://snomed.info/sct|385093006', 'http://hl7.org/fhir/sid/icd-10-cm|J18.9'], ['http://snomed.info/sct|389087006']]);
  const [medicine] = read.items.filter((item) => item.kind === 'medicines');
  expect(codesOf(medicine?.resource.medicationCodeableConcept)).toEqual(['http://www.nlm.nih.gov/research/umls/rxnorm|308191']);
  expect(medicine?.resource.effectivePeriod).toEqual({ start: '2026-02-10', end: '2026-02-15' });
  expect(read.items.map((item) => item.kind)).toContain('encounters');
  for (const item of read.items) expect(() => acceptResource(item.resource, { type: item.type, record: { id: 'r1' } })).not.toThrow();
});

test.each([
  ['xxe.xml', /DTD or entities/],
  ['malformed.xml', /not well-formed XML \(line \d+/],
])('%s is refused with a clear message', async (name, message) => {
  await expect(readClinicalDocument(fixture(name))).rejects.toThrow(message);
});

test('XML that is not a C-CDA document, and an oversized document, are refused', async () => {
  await expect(readClinicalDocument('<?xml version="1.0"?><note><to>Tove</to></note>')).rejects.toThrow(/not a clinical document/);
  await expect(readClinicalDocument(`<a>${' '.repeat(MAX_DOCUMENT_BYTES)}</a>`)).rejects.toThrow(/larger than 5 MB/);
});

test('the converter runs in a worker, given up after its time limit', async () => {
  const started = Date.now();
  await expect(convertInWorker(fixture('ccd.xml'), 1)).rejects.toThrow(/took too long to read/);
  expect(Date.now() - started).toBeLessThan(1000);
});

test('timestamps the converter writes are made valid FHIR', () => {
  expect(fixDateTime('2012-09-25T11:30:-0500')).toBe('2012-09-25T11:30:00-05:00');
  expect(fixDateTime('1998-05-01T00:00:00Z')).toBe('1998-05-01');
  expect(fixDateTime('2001-30-31T00:00:00Z')).toBeUndefined();
  expect(fixDateTime('2026-03-02T09:30:00-0500')).toBe('2026-03-02T09:30:00-05:00');
});
