/**
 * What the registration and sign-in forms accept.
 */
import { z } from 'zod';
import { isCleanText, isStorableText } from '../security/storable-text';

const CLEAN = 'Remove the control characters from this field.';

export const registrationForm = z.object({
  name: z.string().trim().min(1, 'Enter your name.').max(200, 'Your name can be at most 200 characters.').refine(isCleanText, CLEAN),
  email: z.string().trim().toLowerCase().email('Enter an email address like name@example.com.').max(254, 'That email address is too long.'),
  password: z
    .string()
    .min(10, 'Choose a password of at least 10 characters.')
    .max(256, 'Your password can be at most 256 characters.')
    .refine(isStorableText, 'Your password cannot contain a NUL character.'),
});

export type RegistrationForm = z.infer<typeof registrationForm>;

export const signInForm = z.object({
  email: z.string().trim().toLowerCase().max(254).refine(isCleanText, 'The email or password is wrong.').default(''),
  password: z.string().max(256).default(''),
});

export type SignInForm = z.infer<typeof signInForm>;

/** The first message of a failed parse, for showing above a form. */
export function firstMessage(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'Check the form and try again.';
}

export const RELATIONSHIPS = ['child', 'parent', 'partner', 'relative', 'other'] as const;

export const RELATIONSHIP_WORDS: Readonly<Record<(typeof RELATIONSHIPS)[number], string>> = {
  child: 'My child',
  parent: 'My parent',
  partner: 'My partner',
  relative: 'Another relative',
  other: 'Someone else in my care',
};

export const recordInCareForm = z.object({
  name: z.string().trim().min(1, 'Enter their name.').max(200, 'The name can be at most 200 characters.').refine(isCleanText, CLEAN),
  birth_date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'Enter the birth date as a date, like 2019-04-23.')
    .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'Enter a real date.')
    .refine((value) => Date.parse(`${value}T00:00:00Z`) <= Date.now(), 'The birth date cannot be in the future.')
    .refine((value) => Number(value.slice(0, 4)) >= 1900, 'Enter a birth date after 1900.'),
  relationship: z.enum(RELATIONSHIPS, { message: 'Choose how they are related to you.' }),
});

export type RecordInCareForm = z.infer<typeof recordInCareForm>;
