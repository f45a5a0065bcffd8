/**
 * The resources of a package: checked at drop-off by the rule every resource coming into a record
 * meets (fhir/acceptance.ts) — only the patient is left open, since the person chooses the record at
 * pickup — so a package that is accepted can always be picked up; and, at pickup, made into the
 * chosen record's resources — new ids, references between them kept, the patient they are about
 * re-pointed to the record's Patient.
 */
import { randomUUID } from 'node:crypto';
import { acceptResource } from '../fhir/acceptance';
import { InvalidResource } from '../fhir/errors';
import { CATALOGUE, RECORD_TYPES, type RecordType } from '../rules/catalogue';

type Json = Record<string, unknown>;

export type PackageResource = Json & { resourceType: Exclude<RecordType, 'Patient'> };

/** What a package may carry: every type a record holds but its Patient. */
const PACKAGE_TYPES = RECORD_TYPES.filter((type) => type !== 'Patient');

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(where: string, message: string): never {
  throw new InvalidResource(`${where}: ${message}`, [where]);
}

function checkOne(resource: unknown, index: number): PackageResource {
  const at = `resources[${index}]`;
  if (isObject(resource) && resource.resourceType === 'Patient') {
    refuse(`${at}.resourceType`, 'a package cannot carry a Patient: the person chooses the record, whose Patient the other resources are pointed at.');
  }
  // Refusals name the place in the package: `resources[2].code.coding[0]`.
  const place = (path: string) => (path === '' ? at : path.startsWith('[') ? `${at}${path}` : `${at}.${path}`);
  return acceptResource(resource, { types: PACKAGE_TYPES, place }) as PackageResource;
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
    if (seen.has(key))
      refuse(
        `resources[${index}].id`,
        `another ${resource.resourceType} in the package has the id "${resource.id}"; ids must be unique so references between the resources are clear.`,
      );
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
