/**
 * The record items a clinical document holds, rebuilt from `@medplum/ccda`'s FHIR output with only
 * what carevault keeps of each, so every item passes the record's acceptance (fhir/acceptance.ts)
 * and its codes keep their systems. What the converter gets wrong, corrected here:
 * - CVX codes come under `http://nucc.org/cvx`; FHIR's CVX system is `http://hl7.org/fhir/sid/cvx`;
 *   ICD-10-CM, ICD-10 and ICD-9-CM come as `urn:oid:…`: each gets the URI FHIR gives it;
 * - only the first problem of each problem concern becomes a Condition: the others are added from
 *   the source (source.ts);
 * - medications come as MedicationRequest orders: the record keeps MedicationStatement (what the
 *   person takes);
 * - timestamps without seconds come out as `11:30:-0500`, impossible dates pass through, and a
 *   day becomes midnight UTC: each is rewritten as a valid FHIR dateTime, or the day, or dropped;
 * - an encounter's CPT code lands in `class` (an ActCode): it moves to `type`, the class becomes
 *   ambulatory unless the source named an ActCode;
 * - result organizers become Observations with `hasMember`: a lab panel is a DiagnosticReport whose
 *   results are its members; vital-sign organizers add nothing beyond their members.
 * https://hl7.org/fhir/R4/medicationstatement.html · https://hl7.org/fhir/R4/diagnosticreport.html
 */
import { randomUUID } from 'node:crypto';
import { dateOf } from '../fhir/indexing';
import { summarize } from '../fhir/summary';
import type { RecordType } from '../rules/catalogue';
import { systemOf, type SourceProblem } from './source';

type Json = Record<string, unknown>;

/** The kinds of item a review groups, in the order it shows them. */
export const ITEM_KINDS = ['problems', 'medicines', 'allergies', 'immunizations', 'results', 'vital-signs', 'encounters', 'procedures'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

export const KIND_HEADINGS: Readonly<Record<ItemKind, string>> = {
  problems: 'Problems',
  medicines: 'Medicines',
  allergies: 'Allergies',
  immunizations: 'Immunizations',
  results: 'Results',
  'vital-signs': 'Vital signs',
  encounters: 'Encounters',
  procedures: 'Procedures',
};

/** What makes two items the same: one of the codes and the day (none when undated). */
export type Sameness = { codings: { system: string; code: string }[]; day: string | undefined };

export type DocumentItem = {
  /** The id the item takes in the record (chosen by carevault, so a panel can point at its results). */
  id: string;
  kind: ItemKind;
  type: RecordType;
  resource: Json;
  words: string;
  sameness: Sameness;
};

const CVX_WRONG = 'http://nucc.org/cvx';
const CVX = 'http://hl7.org/fhir/sid/cvx';

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/**
 * A FHIR date or dateTime as the converter wrote it, made valid: `2012-09-25T11:30:-0500` →
 * `2012-09-25T11:30:00-05:00`; midnight UTC (how it writes a bare day) → the day; an impossible
 * month or day → `undefined`.
 */
export function fixDateTime(value: unknown): string | undefined {
  const raw = str(value);
  const match = raw ? /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})?(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$/.exec(raw) : null;
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, zone] = match;
  if (month && (Number(month) < 1 || Number(month) > 12)) return undefined;
  if (day && (Number(day) < 1 || Number(day) > 31)) return undefined;
  const date = [year, month, day].filter(Boolean).join('-');
  if (!day || !hour || !minute || !zone) return date;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? '0') > 59) return date;
  if (zone === 'Z' && hour === '00' && minute === '00' && (second ?? '00') === '00') return date;
  const offset = zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return `${date}T${hour}:${minute}:${second ?? '00'}${offset}`;
}

function fixPeriod(value: unknown): Json | undefined {
  if (!isObject(value)) return undefined;
  const start = fixDateTime(value.start);
  const end = fixDateTime(value.end);
  return start || end ? { ...(start ? { start } : {}), ...(end ? { end } : {}) } : undefined;
}

/** FHIR's URI for a code system the converter names wrongly (CVX) or only by OID (ICD-10-CM, ICD-10, ICD-9-CM…). */
function fhirSystem(system: string): string {
  if (system === CVX_WRONG) return CVX;
  return system.startsWith('urn:oid:') ? (systemOf(system.slice('urn:oid:'.length)) ?? system) : system;
}

/** A CodeableConcept keeping only codings with a system and code (CVX under FHIR's system), or `undefined`. */
function fixConcept(value: unknown): Json | undefined {
  if (!isObject(value)) return undefined;
  const codings = arr(value.coding).flatMap((coding) => {
    if (!isObject(coding)) return [];
    const system = str(coding.system);
    const code = str(coding.code);
    if (!system || !code || !/^\S+$/.test(system)) return [];
    const display = str(coding.display);
    return [{ system: fhirSystem(system), code, ...(display ? { display } : {}) }];
  });
  const text = str(value.text);
  if (codings.length === 0 && !text) return undefined;
  return { ...(codings.length ? { coding: codings } : {}), ...(text ? { text } : {}) };
}

/** A status concept keeping only the allowed codes, under the system FHIR names. */
function statusConcept(value: unknown, system: string, allowed: readonly string[]): Json | undefined {
  const code = isObject(value)
    ? arr(value.coding)
        .map((coding) => (isObject(coding) ? str(coding.code) : undefined))
        .find(Boolean)
    : undefined;
  return code && allowed.includes(code) ? { coding: [{ system, code }] } : undefined;
}

const pick = <T>(value: unknown, allowed: readonly T[], fallback: T): T => (allowed.includes(value as T) ? (value as T) : fallback);

function quantity(value: unknown): Json | undefined {
  if (!isObject(value) || typeof value.value !== 'number' || !Number.isFinite(value.value)) return undefined;
  const unit = str(value.unit);
  const code = str(value.code);
  return { value: value.value, ...(unit ? { unit } : {}), ...(code ? { system: 'http://unitsofmeasure.org', code } : {}) };
}

function categoryOf(resource: Json): string | undefined {
  return arr(resource.category)
    .flatMap((category) => (isObject(category) ? arr(category.coding) : []))
    .map((coding) => (isObject(coding) ? str(coding.code) : undefined))
    .find((code) => code === 'laboratory' || code === 'vital-signs');
}

const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ENCOUNTER_CLASSES = ['AMB', 'EMER', 'FLD', 'HH', 'IMP', 'ACUTE', 'NONAC', 'OBSENC', 'PRENC', 'SS', 'VR'];

function observation(resource: Json, category: string): Json | undefined {
  const code = fixConcept(resource.code);
  if (!code) return undefined;
  const value =
    quantity(resource.valueQuantity) !== undefined
      ? { valueQuantity: quantity(resource.valueQuantity) }
      : fixConcept(resource.valueCodeableConcept)?.coding
        ? { valueCodeableConcept: fixConcept(resource.valueCodeableConcept) }
        : str(resource.valueString)
          ? { valueString: str(resource.valueString) }
          : {};
  const effective = fixDateTime(resource.effectiveDateTime);
  const interpretation = arr(resource.interpretation).map(fixConcept).filter(Boolean);
  return {
    resourceType: 'Observation',
    status: pick(resource.status, ['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown'], 'final'),
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: category }] }],
    code,
    ...(effective ? { effectiveDateTime: effective } : {}),
    ...value,
    ...(interpretation.length ? { interpretation } : {}),
  };
}

/** The resource the record keeps for one of the converter's, with its kind; `undefined` for what it does not keep. */
function keep(resource: Json, contained: (reference: unknown) => Json | undefined): { kind: ItemKind; resource: Json } | undefined {
  switch (resource.resourceType) {
    case 'Condition': {
      const code = fixConcept(resource.code);
      if (!code) return undefined;
      const onset = fixDateTime(resource.onsetDateTime) ?? fixPeriod(resource.onsetPeriod)?.start;
      const abatement = fixDateTime(resource.abatementDateTime);
      const clinical = statusConcept(resource.clinicalStatus, 'http://terminology.hl7.org/CodeSystem/condition-clinical', [
        'active',
        'recurrence',
        'relapse',
        'inactive',
        'remission',
        'resolved',
      ]);
      return {
        kind: 'problems',
        resource: {
          resourceType: 'Condition',
          ...(clinical ? { clinicalStatus: clinical } : {}),
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
          code,
          ...(onset ? { onsetDateTime: onset } : {}),
          ...(abatement && clinical ? { abatementDateTime: abatement } : {}),
        },
      };
    }
    case 'MedicationRequest':
    case 'MedicationStatement': {
      const code = fixConcept(resource.medicationCodeableConcept) ?? fixConcept(contained(resource.medicationReference)?.code);
      if (!code) return undefined;
      const validity = isObject(resource.dispenseRequest) ? fixPeriod(resource.dispenseRequest.validityPeriod) : undefined;
      const period = fixPeriod(resource.effectivePeriod) ?? validity;
      const asserted = fixDateTime(resource.authoredOn);
      const STATUS: Record<string, string> = {
        active: 'active',
        completed: 'completed',
        stopped: 'stopped',
        cancelled: 'stopped',
        'on-hold': 'on-hold',
        draft: 'intended',
        'entered-in-error': 'entered-in-error',
      };
      return {
        kind: 'medicines',
        resource: {
          resourceType: 'MedicationStatement',
          status: STATUS[String(resource.status)] ?? 'unknown',
          medicationCodeableConcept: code,
          ...(period ? { effectivePeriod: period } : {}),
          ...(asserted && asserted.includes('T') ? { dateAsserted: asserted } : {}),
        },
      };
    }
    case 'AllergyIntolerance': {
      const code = fixConcept(resource.code);
      if (!code) return undefined;
      const clinical = statusConcept(resource.clinicalStatus, 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', [
        'active',
        'inactive',
        'resolved',
      ]);
      const verification = statusConcept(resource.verificationStatus, 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', [
        'unconfirmed',
        'confirmed',
        'refuted',
        'entered-in-error',
      ]);
      // The converter files every allergy it cannot place as a food allergy: a drug's code (RxNorm) is a medicine's.
      const isDrug = JSON.stringify(code).includes('"http://www.nlm.nih.gov/research/umls/rxnorm"');
      const categories = isDrug
        ? ['medication']
        : arr(resource.category).filter((category) => ['food', 'medication', 'environment', 'biologic'].includes(String(category)));
      const onset = fixDateTime(resource.onsetDateTime);
      const recorded = fixDateTime(resource.recordedDate);
      const reactions = arr(resource.reaction).flatMap((reaction) => {
        if (!isObject(reaction)) return [];
        const manifestation = arr(reaction.manifestation).map(fixConcept).filter(Boolean);
        if (!manifestation.length) return [];
        const severity = ['mild', 'moderate', 'severe'].includes(String(reaction.severity)) ? { severity: reaction.severity } : {};
        return [{ manifestation, ...severity }];
      });
      return {
        kind: 'allergies',
        resource: {
          resourceType: 'AllergyIntolerance',
          ...(clinical ? { clinicalStatus: clinical } : {}),
          ...(verification ? { verificationStatus: verification } : {}),
          ...(resource.type === 'allergy' || resource.type === 'intolerance' ? { type: resource.type } : {}),
          ...(categories.length ? { category: categories } : {}),
          code,
          ...(onset ? { onsetDateTime: onset } : {}),
          ...(recorded ? { recordedDate: recorded } : {}),
          ...(reactions.length ? { reaction: reactions } : {}),
        },
      };
    }
    case 'Immunization': {
      const vaccineCode = fixConcept(resource.vaccineCode);
      if (!vaccineCode) return undefined;
      const when = fixDateTime(resource.occurrenceDateTime);
      const lot = str(resource.lotNumber);
      return {
        kind: 'immunizations',
        resource: {
          resourceType: 'Immunization',
          status: pick(resource.status, ['completed', 'entered-in-error', 'not-done'], 'completed'),
          vaccineCode,
          ...(when ? { occurrenceDateTime: when } : { occurrenceString: 'Date not stated in the document' }),
          ...(lot ? { lotNumber: lot } : {}),
        },
      };
    }
    case 'Observation': {
      const category = categoryOf(resource);
      if (!category || arr(resource.hasMember).length) return undefined;
      const kept = observation(resource, category);
      return kept ? { kind: category === 'vital-signs' ? 'vital-signs' : 'results', resource: kept } : undefined;
    }
    case 'Encounter': {
      const given = isObject(resource.class) ? resource.class : undefined;
      const givenCode = given ? str(given.code) : undefined;
      const isActCode = given?.system === ACT_CODE && givenCode !== undefined && ENCOUNTER_CLASSES.includes(givenCode);
      const type = arr(resource.type)
        .map(fixConcept)
        .filter((concept): concept is Json => concept !== undefined);
      const period = fixPeriod(resource.period);
      const STATUS: Record<string, string> = {
        'in-progress': 'in-progress',
        finished: 'finished',
        cancelled: 'cancelled',
        planned: 'planned',
        arrived: 'arrived',
      };
      return {
        kind: 'encounters',
        resource: {
          resourceType: 'Encounter',
          status: STATUS[String(resource.status)] ?? (period?.end || period?.start ? 'finished' : 'unknown'),
          class: isActCode ? { system: ACT_CODE, code: givenCode } : { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
          ...(type.length ? { type } : {}),
          ...(period ? { period } : {}),
        },
      };
    }
    case 'Procedure': {
      const code = fixConcept(resource.code);
      if (!code) return undefined;
      const performed = fixDateTime(resource.performedDateTime);
      const period = fixPeriod(resource.performedPeriod);
      const STATUS: Record<string, string> = { active: 'in-progress' };
      return {
        kind: 'procedures',
        resource: {
          resourceType: 'Procedure',
          status:
            STATUS[String(resource.status)] ??
            pick(resource.status, ['preparation', 'in-progress', 'not-done', 'on-hold', 'stopped', 'completed', 'entered-in-error', 'unknown'], 'unknown'),
          code,
          ...(performed ? { performedDateTime: performed } : period ? { performedPeriod: period } : {}),
        },
      };
    }
    default:
      return undefined;
  }
}

/** The concept an item is known by. */
function mainConcept(resource: Json): unknown {
  return resource.code ?? resource.vaccineCode ?? resource.medicationCodeableConcept ?? arr(resource.type)[0];
}

/** The day an item is about (its catalogue date), as `YYYY-MM-DD`, or `undefined`. */
function dayOfItem(resource: Json): string | undefined {
  const direct = [resource.onsetDateTime, resource.effectiveDateTime, resource.occurrenceDateTime, resource.performedDateTime, resource.recordedDate]
    .map(str)
    .find(Boolean);
  if (direct && /^\d{4}-\d{2}-\d{2}/.test(direct)) return direct.slice(0, 10);
  const date = dateOf(resource);
  return date ? date.toISOString().slice(0, 10) : undefined;
}

export function samenessOf(resource: Json): Sameness {
  const concept = mainConcept(resource);
  const codings = isObject(concept)
    ? arr(concept.coding).flatMap((coding) =>
        isObject(coding) && str(coding.system) && str(coding.code) ? [{ system: String(coding.system), code: String(coding.code) }] : [],
      )
    : [];
  return { codings, day: dayOfItem(resource) };
}

/** The keys under which an item is found: one per code, each with its type and day. */
function keysOf(type: string, sameness: Sameness): string[] {
  return sameness.codings.map((coding) => JSON.stringify([type, sameness.day ?? '', coding.system, coding.code]));
}

/**
 * Items found by sameness in one lookup per code (two items are the same when they share a code
 * and the day): a document's thousands of items are compared in linear time.
 */
export class SamenessIndex<T> {
  private readonly byKey = new Map<string, T>();

  add(type: string, sameness: Sameness, value: T): void {
    for (const key of keysOf(type, sameness)) if (!this.byKey.has(key)) this.byKey.set(key, value);
  }

  find(type: string, sameness: Sameness): T | undefined {
    for (const key of keysOf(type, sameness)) {
      const found = this.byKey.get(key);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

function wordsOf(resource: Json, sameness: Sameness): string {
  const day = sameness.day ? ` on ${DAY.format(new Date(`${sameness.day}T00:00:00Z`))}` : '';
  return `${summarize(resource)}${day}`;
}

function item(kind: ItemKind, resource: Json, id = randomUUID()): DocumentItem {
  const sameness = samenessOf(resource);
  return { id, kind, type: resource.resourceType as RecordType, resource, words: wordsOf(resource, sameness), sameness };
}

/**
 * The items of a converted document: the converter's resources kept as record items, every problem
 * of each concern, lab panels as DiagnosticReports over their results; one item once (the same code
 * and day twice in a document is one item).
 */
export function itemsOf(resources: readonly Json[], problems: readonly SourceProblem[]): DocumentItem[] {
  const items: DocumentItem[] = [];
  const index = new SamenessIndex<DocumentItem>();
  const idOf = new Map<string, string>();
  const add = (candidate: DocumentItem, sourceReference?: string) => {
    const twin = index.find(candidate.type, candidate.sameness);
    if (twin) {
      if (sourceReference) idOf.set(sourceReference, twin.id);
      return;
    }
    items.push(candidate);
    index.add(candidate.type, candidate.sameness, candidate);
    if (sourceReference) idOf.set(sourceReference, candidate.id);
  };

  for (const resource of resources) {
    const containedOf = (reference: unknown) => {
      const target = isObject(reference) ? str(reference.reference) : undefined;
      return target?.startsWith('#')
        ? (arr(resource.contained).find((entry) => isObject(entry) && entry.id === target.slice(1)) as Json | undefined)
        : undefined;
    };
    const kept = keep(resource, containedOf);
    if (kept) add(item(kept.kind, kept.resource), `${String(resource.resourceType)}/${String(resource.id)}`);
  }

  for (const problem of problems) {
    const resource: Json = {
      resourceType: 'Condition',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: problem.active ? 'active' : 'resolved' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
      code: problem.code,
      ...(problem.onset ? { onsetDateTime: problem.onset } : {}),
      ...(problem.abatement && !problem.active ? { abatementDateTime: problem.abatement } : {}),
    };
    add(item('problems', resource));
  }

  // Lab panels: a result organizer becomes a report over the results kept from it.
  const byId = new Map(items.map((item) => [item.id, item]));
  for (const resource of resources) {
    if (resource.resourceType !== 'Observation' || categoryOf(resource) !== 'laboratory' || !arr(resource.hasMember).length) continue;
    const code = fixConcept(resource.code);
    const results = arr(resource.hasMember)
      .map((member) => (isObject(member) ? str(member.reference) : undefined))
      .flatMap((reference) => (reference && idOf.has(reference) ? [idOf.get(reference) as string] : []));
    if (!code || results.length === 0) continue;
    const first = results.map((id) => byId.get(id)).find((candidate) => candidate?.resource.effectiveDateTime);
    const effective = fixDateTime(resource.effectiveDateTime) ?? (first?.resource.effectiveDateTime as string | undefined);
    add(
      item('results', {
        resourceType: 'DiagnosticReport',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
        code,
        ...(effective ? { effectiveDateTime: effective } : {}),
        result: results.map((id) => ({ reference: `Observation/${id}` })),
      }),
    );
  }
  return items;
}
