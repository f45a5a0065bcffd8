/**
 * Helpers for our own HTML forms.
 */
import type { z } from 'zod';

/** The first message of a failed parse, for showing above a form. */
export function firstMessage(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'Check the form and try again.';
}
