/**
 * A resource in a line a person can read ("Body weight — 72.5 kg"), from the elements the
 * catalogue names for its type; and a record's Patient as the record's name and birth date.
 */
import { CATALOGUE, isRecordType } from '../rules/catalogue';

type Json = Record<string, unknown>;

function conceptText(concept: unknown): string | undefined {
  if (typeof concept === 'string') return concept;
  // An element holding a list of concepts (Encounter.type): the first that names something.
  if (Array.isArray(concept)) return concept.map(conceptText).find(Boolean);
  const value = concept as { text?: unknown; coding?: { display?: unknown; code?: unknown }[] } | undefined;
  if (typeof value?.text === 'string') return value.text;
  const coding = value?.coding?.find((c) => typeof c.display === 'string') ?? value?.coding?.[0];
  if (typeof coding?.display === 'string') return coding.display;
  return typeof coding?.code === 'string' ? coding.code : undefined;
}

function quantity(value: unknown): string | undefined {
  const q = value as { value?: unknown; unit?: unknown; code?: unknown } | undefined;
  if (typeof q?.value !== 'number') return undefined;
  const unit = typeof q.unit === 'string' ? q.unit : typeof q.code === 'string' ? q.code : '';
  return `${q.value}${unit ? ` ${unit}` : ''}`;
}

/** What one resource is and, where it has one, its value. */
export function summarize(resource: Json): string {
  const type = String(resource.resourceType);
  if (!isRecordType(type)) return type;
  const { summary, nouns } = CATALOGUE[type];
  const name = summary.name.map((element) => conceptText(resource[element])).find(Boolean) ?? nouns[0];
  if (!summary.value) return name;
  const value =
    quantity(resource.valueQuantity) ??
    (typeof resource.valueString === 'string' ? resource.valueString : undefined) ??
    conceptText(resource.valueCodeableConcept);
  return value ? `${name} — ${value}` : name;
}

/** The name people see for a Patient: its first name's text, or given and family names. */
export function patientName(patient: Json): string | undefined {
  const [first] = Array.isArray(patient.name) ? (patient.name as { text?: unknown; given?: unknown; family?: unknown }[]) : [];
  if (typeof first?.text === 'string' && first.text.trim()) return first.text.trim().slice(0, 200);
  const parts = [...(Array.isArray(first?.given) ? first.given : []), first?.family].filter(
    (part): part is string => typeof part === 'string' && part.trim() !== '',
  );
  return parts.length ? parts.join(' ').slice(0, 200) : undefined;
}

/** A Patient's birth date (FHIR `date`, `YYYY[-MM[-DD]]`). */
export function patientBirthDate(patient: Json): string | undefined {
  return typeof patient.birthDate === 'string' ? patient.birthDate : undefined;
}
