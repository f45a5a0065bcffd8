/**
 * A Bundle file from another system (or a record downloaded from carevault) as the steps that put
 * its contents into one record: the file's Patient becomes the record's Patient (its details
 * replace the record's), every other resource a new one with a new id, and every reference between
 * them — by fullUrl, by `Type/id`, or to the file's patient — rewritten to where it now lives.
 * Resources of types a record does not hold are left out and named. The steps then run as one
 * transaction (transaction.ts), validated like any write. https://hl7.org/fhir/R4/bundle.html
 */
import { randomUUID } from 'node:crypto';
import { CATALOGUE, isRecordType } from '../rules/catalogue';
import { InvalidResource } from './errors';
import { asObject, relativeReference } from './indexing';
import { entriesOf, type Step } from './transaction';

type Json = Record<string, unknown>;

/** The Bundle types a file may be: what carevault's download gives, and what other systems export. */
const IMPORTABLE = ['collection', 'transaction', 'batch', 'searchset', 'document'];

export type ImportPlan = {
  /** One per step, with the fullUrl the file gave it (for references by fullUrl). */
  entries: Json[];
  steps: Step[];
  /** Other names the file uses for its resources: `Type/oldId`, its patient's reference. */
  targets: Map<string, string>;
  /** Resource types in the file that a record does not hold, with how many of each. */
  skipped: Map<string, number>;
};

/** The plan to import `body` into the record whose Patient is `Patient/<recordId>`. */
export function importPlan(recordId: string, body: unknown): ImportPlan {
  const { entries: fileEntries } = entriesOf(body, IMPORTABLE);
  const plan: ImportPlan = { entries: [], steps: [], targets: new Map(), skipped: new Map() };
  let patientSeen = false;
  /** The patient references the resources hold: each person (as `Patient/id`) with the spellings used for them. */
  const patientReferences = new Map<string, Set<string>>();
  for (const [index, entry] of fileEntries.entries()) {
    const resource = asObject(entry.resource);
    if (!resource) continue;
    const type = String(resource.resourceType);
    if (!isRecordType(type)) {
      plan.skipped.set(type, (plan.skipped.get(type) ?? 0) + 1);
      continue;
    }
    const oldId = typeof resource.id === 'string' ? resource.id : undefined;
    // The file's ids and versions are the other system's: carevault gives its own.
    const { meta: _meta, id: _id, ...content } = resource;
    if (type === 'Patient') {
      if (patientSeen)
        throw new InvalidResource(`Item ${index + 1} is a second person's details: a file to import must be about one person.`, [`Bundle.entry[${index}]`]);
      patientSeen = true;
      plan.steps.push({ method: 'PUT', type, id: recordId, resource: { ...content, id: recordId }, ifMatch: undefined });
    } else {
      plan.steps.push({ method: 'POST', type, id: randomUUID(), resource: content });
      const element = CATALOGUE[type].patientElement;
      const reference = element ? asObject(resource[element])?.reference : undefined;
      if (typeof reference === 'string') {
        const person = reference.startsWith('urn:') ? reference : (relativeReference(reference) ?? reference);
        patientReferences.set(person, (patientReferences.get(person) ?? new Set()).add(reference));
      }
    }
    const step = plan.steps.at(-1) as Step & { id: string };
    plan.entries.push(typeof entry.fullUrl === 'string' ? { fullUrl: entry.fullUrl } : {});
    if (oldId) plan.targets.set(`${type}/${oldId}`, `${type}/${step.id}`);
  }
  // A file without the person's details still names them: one person, taken to be this record's.
  const unresolved = [...patientReferences].filter(([person]) => !plan.targets.has(person) && !fullUrlOf(plan, person));
  if (!patientSeen && unresolved.length === 1 && unresolved[0]) {
    for (const spelling of unresolved[0][1]) plan.targets.set(spelling, `Patient/${recordId}`);
  } else if (!patientSeen && unresolved.length > 1)
    throw new InvalidResource('The file is about more than one person: a file to import must be about one person.');
  if (plan.steps.length === 0) throw new InvalidResource('The file holds nothing a health record keeps.');
  return plan;
}

function fullUrlOf(plan: ImportPlan, reference: string): boolean {
  return plan.entries.some((entry) => entry.fullUrl === reference);
}
