/**
 * A resource in a line a person can read on their record page ("Body weight — 72.5 kg").
 */
import { TYPE_NOUNS, isRecordType } from '../rules/catalogue';

type Json = Record<string, unknown>;

function conceptText(concept: unknown): string | undefined {
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

export function summarize(resource: Json): string {
  const type = String(resource.resourceType);
  const name =
    conceptText(resource.code) ??
    conceptText(resource.medicationCodeableConcept) ??
    conceptText(resource.vaccineCode) ??
    conceptText(resource.type) ??
    (typeof resource.description === 'string' ? resource.description : undefined) ??
    (isRecordType(type) ? TYPE_NOUNS[type][0] : type);
  const value = quantity(resource.valueQuantity) ?? (typeof resource.valueString === 'string' ? resource.valueString : undefined) ?? conceptText(resource.valueCodeableConcept);
  return value ? `${name} — ${value}` : name;
}
