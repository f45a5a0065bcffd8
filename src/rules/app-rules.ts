/**
 * An app's registered rules (HealthVault's mandatory and optional rules) and capabilities, as they
 * appear in the registration document, and the client `scope` they add up to.
 */
import { z } from 'zod';
import { CAPABILITIES, IDENTITY_SCOPES, describeScope, isRuleScope, type Capability } from './scopes';

const ruleSchema = z
  .object({
    scope: z.string().refine(isRuleScope, {
      message: 'must be a record scope like patient/Observation.rs, or offline_access or online_access',
    }),
    required: z.boolean().default(false),
    reason: z.string().trim().min(1, 'must say why the app needs it').max(300),
    checked: z.boolean().optional(),
  })
  .strict();

export type Rule = z.infer<typeof ruleSchema>;

export const rulesSchema = z
  .array(ruleSchema)
  .max(60)
  .refine((rules) => new Set(rules.map((rule) => rule.scope)).size === rules.length, {
    message: 'must not list the same scope twice',
  })
  .refine((rules) => !(rules.some((r) => r.scope === 'offline_access') && rules.some((r) => r.scope === 'online_access')), {
    message: 'may hold offline_access or online_access, not both',
  });

export const capabilitiesSchema = z
  .array(z.enum(CAPABILITIES))
  .max(CAPABILITIES.length)
  .refine((list) => new Set(list).size === list.length, { message: 'must not list the same capability twice' });

/** The client `scope` metadata: identity scopes, every rule's scope and every capability. */
export function clientScope(rules: readonly Rule[], capabilities: readonly Capability[]): string {
  return [...IDENTITY_SCOPES, ...rules.map((rule) => rule.scope), ...capabilities].join(' ');
}

/** A rule as shown to a person. */
export type RuleView = { scope: string; words: string; reason: string; required: boolean; checked: boolean };

export function viewRule(rule: Rule): RuleView {
  return {
    scope: rule.scope,
    words: describeScope(rule.scope),
    reason: rule.reason,
    required: rule.required,
    checked: rule.required || (rule.checked ?? true),
  };
}

/** Reads rules stored on a client, tolerating clients registered without any. */
export function rulesOf(metadata: unknown): Rule[] {
  const parsed = rulesSchema.safeParse(metadata);
  return parsed.success ? parsed.data : [];
}
