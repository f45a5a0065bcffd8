/**
 * What the form adding a record for someone in one's care accepts.
 */
import { z } from 'zod';
import { isCleanText } from '../security/storable-text';

export const RELATIONSHIPS = ['child', 'parent', 'partner', 'relative', 'other'] as const;

export const RELATIONSHIP_WORDS: Readonly<Record<(typeof RELATIONSHIPS)[number], string>> = {
  child: 'My child',
  parent: 'My parent',
  partner: 'My partner',
  relative: 'Another relative',
  other: 'Someone else in my care',
};

export const recordInCareForm = z.object({
  name: z
    .string()
    .trim()
    .min(1, 'Enter their name.')
    .max(200, 'The name can be at most 200 characters.')
    .refine(isCleanText, 'Remove the control characters from this field.'),
  birth_date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'Enter the birth date as a date, like 2019-04-23.')
    .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'Enter a real date.')
    .refine((value) => Date.parse(`${value}T00:00:00Z`) <= Date.now(), 'The birth date cannot be in the future.')
    .refine((value) => Number(value.slice(0, 4)) >= 1900, 'Enter a birth date after 1900.'),
  relationship: z.enum(RELATIONSHIPS, { message: 'Choose how they are related to you.' }),
});
