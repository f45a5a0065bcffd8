/**
 * The resources of a package (issue 10): checked at drop-off exactly as the records API checks a
 * write (storable text, FHIR R4 validation with `validateResource`, the catalogue's patient element
 * as a Reference), so a package that is accepted can always be picked up; and, at pickup, made
 * into the chosen record's resources — new ids, references between them kept, the patient they
 * are about re-pointed to the record's Patient.
 */
import { randomUUID } from 'node:crypto';
import { InvalidResource } from '../fhir/errors';
import { validateResource } from '../fhir/validation';
import { CATALOGUE, isRecordType, type RecordType } from '../rules/catalogue';
import { findUnstorable } from '../security/storable-text';

type Json = Record<string, unknown>;

export type PackageResource = Json & { resourceType: Exclude<RecordType, 'Patient'> };

/** A reference to a Patient, relative (`Patient/123`) or absolute (`https://ehr.example/fhir/Patient/123`). */
const PATIENT_REFERENCE = /(^|\/)Patient\/[A-Za-z0-9\-.]{1,64}$/;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `Observation.code.coding[0]` of resources[2] → `resources[2].code.coding[0]`. */
function located(index: number, type: string, path: string): string {
  return `resources[${index}]${path === type ? '' : path.startsWith(`${type}.`) ? path.slice(type.length) : `.${path}`}`;
}

function refuse(where: string, message: string): never {
  throw new InvalidResource(`${where}: ${message}`, [where]);
}

function checkOne(resource: unknown, index: number): PackageResource {
  const at = `resources[${index}]`;
  if (!isObject(resource)) refuse(at, 'must be a FHIR resource (a JSON object).');
  const type = resource.resourceType;
  if (typeof type !== 'string' || !isRecordType(type)) {
    const types = Object.keys(CATALOGUE).filter((name) => name !== 'Patient').join(', ');
    refuse(`${at}.resourceType`, `must be one of the types a record holds: ${types}.`);
  }
  if (type === 'Patient') {
    refuse(`${at}.resourceType`, 'a package cannot carry a Patient: the person chooses the record, whose Patient the other resources are pointed at.');
  }
  const unstorable = findUnstorable(resource);
  if (unstorable) {
    refuse(`${at}.${unstorable.path}`, unstorable.problem === 'depth' ? 'the resource is nested too deeply.' : 'text cannot contain NUL characters or broken Unicode.');
  }
  const result = validateResource(resource, type);
  if (!result.valid) {
    const [first] = result.issues;
    refuse(first ? located(index, type, first.path) : at, first?.message ?? 'The resource is not valid FHIR R4.');
  }
  const element = CATALOGUE[type].patientElement;
  const patient = element ? resource[element] : undefined;
  if (element && patient !== undefined) {
    const reference = isObject(patient) ? patient.reference : undefined;
    if (typeof reference !== 'string' || !PATIENT_REFERENCE.test(reference)) {
      refuse(`${at}.${element}`, `must be a Reference to the patient, like {"reference": "Patient/123"} (or left out): carevault points it at the record the person chooses.`);
    }
  }
  return resource as PackageResource;
}

/**
 * Checks what an app drops off.
 * @throws InvalidResource naming the first problem's location (`resources[1].status: …`).
 */
export function checkContents(resources: readonly unknown[]): PackageResource[] {
  const checked = resources.map(checkOne);
  const seen = new Set<string>();
  checked.forEach((resource, index) => {
    if (typeof resource.id !== 'string') return;
    const key = `${resource.resourceType}/${resource.id}`;
    if (seen.has(key)) refuse(`resources[${index}].id`, `another ${resource.resourceType} in the package has the id "${resource.id}"; ids must be unique so references between the resources are clear.`);
    seen.add(key);
  });
  return checked;
}

/** Every `reference` string in `value`, replaced through `map` (contained `#id` references stay). */
function rewriteReferences(value: unknown, map: (reference: string) => string | undefined): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteReferences(item, map));
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [key, item] of Object.entries(value)) {
    const replaced = key === 'reference' && typeof item === 'string' ? map(item) : undefined;
    out[key] = replaced ?? rewriteReferences(item, map);
  }
  return out;
}

export type RecordResource = { type: PackageResource['resourceType']; id: string; body: Json };

/**
 * The package's resources as they go into record `recordId`: each gets a new id; a reference to
 * another resource of the package (`Observation/<its id>` or `urn:uuid:<its id>`) follows it to its
 * new id; the patient element, and any other reference to the same patient, names the record's
 * Patient. References to anything else are kept as the app wrote them.
 */
export function intoRecord(resources: readonly PackageResource[], recordId: string): RecordResource[] {
  const ids = resources.map(() => randomUUID());
  const renamed = new Map<string, string>();
  resources.forEach((resource, index) => {
    if (typeof resource.id !== 'string') return;
    const target = `${resource.resourceType}/${ids[index]}`;
    renamed.set(`${resource.resourceType}/${resource.id}`, target);
    renamed.set(`urn:uuid:${resource.id}`, target);
  });
  const patientReferences = new Set(
    resources.flatMap((resource) => {
      const element = CATALOGUE[resource.resourceType].patientElement;
      const value = element ? resource[element] : undefined;
      return isObject(value) && typeof value.reference === 'string' ? [value.reference] : [];
    }),
  );
  const recordPatient = `Patient/${recordId}`;
  const map = (reference: string) => renamed.get(reference) ?? (patientReferences.has(reference) ? recordPatient : undefined);

  return resources.map((resource, index) => {
    const type = resource.resourceType;
    const element = CATALOGUE[type].patientElement;
    const body = rewriteReferences(resource, map) as Json;
    delete body.id;
    if (element) body[element] = { reference: recordPatient };
    return { type, id: ids[index] as string, body };
  });
}
