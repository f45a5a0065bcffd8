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

/** An IANA time zone name the runtime knows ("Europe/Paris", "America/New_York", "UTC"). */
function isTimeZone(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(value)) return false;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** What the browser's page sends once: its time zone, and the page to come back to. */
export const timeZoneForm = z.object({
  time_zone: z.string().max(64, 'That is not a time zone.').refine(isTimeZone, 'That is not a time zone.'),
  return: z.string().max(2000).optional(),
});
