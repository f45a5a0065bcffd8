/**
 * The consent decision (HealthVault's mandatory and optional rules): required rules are granted
 * whatever the form says, each optional rule only when its box was checked; the record must be one
 * the person holds, and the rules within the level they hold on it (a View only person grants read
 * rules only: an optional write rule is declined whatever was ticked, a required one makes Allow
 * impossible). Nothing the browser sends can widen what the app asked for.
 */
import { z } from 'zod';
import { levelGrants, type AccessLevel } from '../records/access';
import type { RuleView } from '../rules/app-rules';

export type ConsentDecision =
  | { kind: 'allow'; granted: string[]; declined: string[]; recordId: string }
  | { kind: 'deny'; recordId: string | undefined }
  /**
   * Not taken: `missing: 'record'` when Allow came without a record among several (the page asks
   * again, with the optional rules the person had `ticked`), `'form'` for a form the page never sends,
   * `'level'` when a required rule is beyond the person's level on the chosen record.
   */
  | { kind: 'invalid'; missing: 'record' | 'form' | 'level'; message: string; ticked: string[] };

export const MISSING_RECORD = 'Choose which record the app may reach, then press Allow again.';

const list = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]));

const consentForm = z.object({
  decision: z.enum(['allow', 'deny'], { message: 'Choose Allow or Deny.' }),
  rules: list,
  record: z.string().optional(),
});

/** What the consent page's address may carry: a record and ticks sent back after a refusal, or last time's choices asked for. */
export const consentQuery = z.object({
  missing: z.literal('record').optional(),
  record: z.uuid().optional(),
  rules: list,
  use: z.uuid().optional(),
});

/** Why an app cannot be allowed on a record: a required rule the person's level cannot grant. */
export function blockedByLevel(rules: readonly RuleView[], level: AccessLevel | undefined): string | undefined {
  if (!level) return undefined;
  const beyond = rules.filter((rule) => rule.required && !levelGrants(level, rule.scope));
  if (!beyond.length) return undefined;
  return `This app needs to change the record (${beyond.map((rule) => rule.scope).join(', ')}), and you have View only access to it, so you cannot allow it. Ask the record's owner for View and change access, or choose another record.`;
}

export function consentDecision(body: unknown, rules: readonly RuleView[], records: readonly { id: string; access: AccessLevel }[]): ConsentDecision {
  const parsed = consentForm.safeParse(body ?? {});
  if (!parsed.success) return { kind: 'invalid', missing: 'form', message: parsed.error.issues[0]?.message ?? 'Choose Allow or Deny.', ticked: [] };
  // With one record it is the obvious one; with several the person must have chosen.
  const recordId = parsed.data.record ?? (records.length === 1 ? records[0]?.id : undefined);
  const known = records.some((record) => record.id === recordId);
  if (parsed.data.decision === 'deny') return { kind: 'deny', recordId: known ? recordId : undefined };
  const checked = new Set(parsed.data.rules);
  if (parsed.data.record !== undefined && !known) return { kind: 'invalid', missing: 'form', message: 'Choose one of the records listed.', ticked: [] };
  if (!recordId || !known) {
    const ticked = rules.filter((rule) => !rule.required && checked.has(rule.scope)).map((rule) => rule.scope);
    return { kind: 'invalid', missing: 'record', message: MISSING_RECORD, ticked };
  }
  const level = records.find((record) => record.id === recordId)?.access ?? 'view';
  const blocked = blockedByLevel(rules, level);
  if (blocked) return { kind: 'invalid', missing: 'level', message: blocked, ticked: [] };
  const grants = (rule: RuleView) => (rule.required || checked.has(rule.scope)) && levelGrants(level, rule.scope);
  const granted = rules.filter(grants).map((rule) => rule.scope);
  const declined = rules.filter((rule) => !rule.required && !grants(rule)).map((rule) => rule.scope);
  return { kind: 'allow', granted, declined, recordId };
}
