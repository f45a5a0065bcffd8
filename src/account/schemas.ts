/**
 * What the account's forms accept: the recovery form's email (as registration reads it) and the
 * new password (registration's own rule for a password).
 */
import { z } from 'zod';
import { registrationForm } from '../accounts/schemas';

export const recoverForm = z.object({ email: registrationForm.shape.email });

export const resetForm = z.object({
  token: z.string().max(100).default(''),
  password: registrationForm.shape.password,
});

/** A link's `?token=`, as typed (the service refuses anything that is not a token). */
export const tokenQuery = z.object({ token: z.string().max(100).catch('') }).catch({ token: '' });
