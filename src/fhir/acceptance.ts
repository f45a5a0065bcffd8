/**
 * Accepting a FHIR resource: the one rule for every way a resource comes into carevault — the
 * records API (create, update), transaction and batch Bundles and imports (all through the record
 * repository), and DOPU packages (at drop-off, before they are in any record; at pickup they go
 * through the repository again), so what a package was accepted with is what its record accepts.
 *
 * In this order, the first problem refused (InvalidResource, 400, naming where):
 * 1. a JSON object, of the type the request names — or, without one, of one of the types allowed;
 * 2. only text PostgreSQL can store, nested at most 64 levels;
 * 3. its `id` the one the URL names, for an update (a new resource's id is carevault's choice);
 * 4. its patient element (the catalogue's `patientElement`) a Reference to the record's Patient,
 *    added when it names none; naming another patient is OtherRecord (403). A resource not yet in a
 *    record (a package's) may name a patient or none: it is pointed at the record later;
 * 5. valid FHIR R4 (validation.ts), as it will be stored.
 * https://hl7.org/fhir/R4/http.html#create · https://hl7.org/fhir/R4/http.html#update
 */
import { CATALOGUE, isRecordType, type RecordType } from '../rules/catalogue';
import { findUnstorable } from '../security/storable-text';
import { InvalidResource, OtherRecord } from './errors';
import { validateResource } from './validation';

type Json = Record<string, unknown>;

/** A reference to a Patient, relative (`Patient/123`) or absolute (`https://ehr.example/fhir/Patient/123`). */
const PATIENT_REFERENCE = /(^|\/)Patient\/[A-Za-z0-9\-.]{1,64}$/;

export type Acceptance = {
  /** The type the request names (the URL, a Bundle entry's request); else any of `types`. */
  type?: RecordType;
  /** Without `type`: the types that may come (a package: every type a record holds but Patient). */
  types?: readonly RecordType[];
  /** The id the URL names (an update): the resource must carry it. */
  id?: string;
  /**
   * The record it goes into, and this server's FHIR base URL (the patient may be named by full URL
   * too); without it, a resource not yet in a record.
   */
  record?: { id: string; fhirBase?: string | undefined };
  /** Applied once the text is known to be storable, before the rest (a Bundle's references rewritten to their entries' new ids). */
  rewrite?: (resource: Json) => Json;
  /**
   * How a refusal names a place in the caller's input, from its path inside the resource
   * (`code.coding[0]`, or '' for the resource itself); by default the FHIRPath (`Observation.code…`).
   */
  place?: (path: string, type: string | undefined) => string;
};

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `Observation.code.coding[0]` → `code.coding[0]`; the resource itself → ''. */
function insideOf(type: string, path: string): string {
  if (path === type) return '';
  return path.startsWith(`${type}.`) ? path.slice(type.length + 1) : path;
}

function fhirPath(path: string, type: string | undefined): string {
  const root = type ?? 'Resource';
  return path === '' ? root : path.startsWith('[') ? `${root}${path}` : `${root}.${path}`;
}

/**
 * `body` as it may be stored: checked, rewritten (`rewrite`) and bound to its record (the patient
 * element added when missing). The input is never changed.
 * @throws InvalidResource naming the first problem's place; OtherRecord when it names another record's patient.
 */
export function acceptResource(body: unknown, acceptance: Acceptance): Json {
  const { type: expected, record } = acceptance;
  const place = acceptance.place ?? fhirPath;
  const refuse = (path: string, type: string | undefined, message: string, paths: readonly string[] = [path]): never => {
    throw new InvalidResource(
      `${place(path, type)}: ${message}`,
      paths.map((where) => place(where, type)),
    );
  };

  if (!isObject(body)) return refuse('', expected, 'must be a FHIR resource (a JSON object).');
  const declared = body.resourceType;
  const allowed = expected ? [expected] : (acceptance.types ?? []);
  if (typeof declared !== 'string' || !isRecordType(declared) || !allowed.includes(declared)) {
    const named = expected ?? (typeof declared === 'string' ? declared : undefined);
    return refuse('resourceType', named, expected ? `must be ${expected}.` : `must be one of the types a record holds: ${allowed.join(', ')}.`);
  }
  const type: RecordType = declared;

  const unstorable = findUnstorable(body);
  if (unstorable) {
    const problem = unstorable.problem === 'depth' ? 'the resource is nested too deeply.' : 'text cannot contain NUL characters or broken Unicode.';
    refuse(unstorable.path, type, problem);
  }
  const resource = acceptance.rewrite ? acceptance.rewrite(body) : body;

  if (acceptance.id !== undefined && resource.id !== acceptance.id) refuse('id', type, `must be ${acceptance.id}, as in the URL.`);

  const bound = record ? boundToRecord(resource, type, record, place) : namingAPatient(resource, type, refuse);

  const result = validateResource(bound, type);
  if (!result.valid) {
    const paths = result.issues.map((issue) => insideOf(type, issue.path));
    const [first] = result.issues;
    refuse(paths[0] ?? '', type, first?.message ?? 'The resource is not valid FHIR R4.', paths);
  }
  return bound;
}

/**
 * Points the resource at the record's Patient when it names no patient, and refuses one that names
 * another (a write can never move data into someone else's record). The reference must be the
 * record's Patient exactly — `Patient/<id>`, or its full URL on this server — never a longer
 * reference that merely ends like it.
 */
function boundToRecord(resource: Json, type: RecordType, record: NonNullable<Acceptance['record']>, place: NonNullable<Acceptance['place']>): Json {
  const element = CATALOGUE[type].patientElement;
  if (!element) return resource;
  const value = resource[element];
  const own = `Patient/${record.id}`;
  if (value === undefined) return { ...resource, [element]: { reference: own } };
  const reference = isObject(value) ? value.reference : undefined;
  const where = place(element, type);
  if (typeof reference !== 'string') throw new InvalidResource(`${where} must be a Reference like {"reference": "${own}"}.`, [where]);
  if (reference !== own && (record.fhirBase === undefined || reference !== `${record.fhirBase}/${own}`)) {
    throw new OtherRecord(`${where} must refer to this record's patient, ${own}.`);
  }
  return resource;
}

/** A resource not yet in a record: its patient element, when present, is a Reference to a patient. */
function namingAPatient(resource: Json, type: RecordType, refuse: (path: string, type: string, message: string) => never): Json {
  const element = CATALOGUE[type].patientElement;
  const value = element ? resource[element] : undefined;
  if (!element || value === undefined) return resource;
  const reference = isObject(value) ? value.reference : undefined;
  if (typeof reference !== 'string' || !PATIENT_REFERENCE.test(reference)) {
    const like = '{"reference": "Patient/123"}';
    refuse(element, type, `must be a Reference to the patient, like ${like} (or left out): carevault points it at the record the person chooses.`);
  }
  return resource;
}

/** What a stored version carries of its storing: its id, and `meta.versionId` and `meta.lastUpdated`. */
export function asStored(resource: Json, id: string, versionId: number, lastUpdated: Date): Json {
  const meta = { ...((resource.meta as Json | undefined) ?? {}), versionId: String(versionId), lastUpdated: lastUpdated.toISOString() };
  return { ...resource, id, meta };
}
