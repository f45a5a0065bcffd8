/**
 * What the account's forms accept: the recovery form's email (as registration reads it), the new
 * password (registration's own rule for a password), and the account page's forms — name, email,
 * current and new password, a device's session uid — with the same rules as registration.
 */
import { z } from 'zod';
import { registrationForm } from '../accounts/schemas';

export const recoverForm = z.object({ email: registrationForm.shape.email });

export const resetForm = z.object({
  token: z.string().max(100).default(''),
  password: registrationForm.shape.password,
  /** The second step, for an account that has it on (the service says when it is needed). */
  code: z.string().catch('').pipe(z.string().max(40, 'That code is too long.')),
  /** A passkey's answer instead of the code (JSON, checked by the service). */
  credential: z.string().catch('').pipe(z.string().max(32_000)),
});

/** A link's `?token=`, as typed (the service refuses anything that is not a token). */
export const tokenQuery = z.object({ token: z.string().max(100).catch('') }).catch({ token: '' });

/** The account page's forms. A field sent twice or not at all is read as not typed. */
const typed = (message: string) => z.string().catch('').pipe(z.string().min(1, message));

export const nameForm = z.object({ name: z.string().catch('').pipe(registrationForm.shape.name) });

export const emailForm = z.object({ email: z.string().catch('').pipe(registrationForm.shape.email) });

export const passwordForm = z.object({
  current: typed('Enter your current password.').pipe(z.string().max(256, 'The current password is wrong.')),
  password: z.string().catch('').pipe(registrationForm.shape.password),
});

/** A device of the list: oidc-provider's session uid (nanoid, 21 characters). */
export const deviceForm = z.object({ session: z.string().regex(/^[\w-]{1,64}$/, 'That device is already signed out.') });

/** "Email me when a message arrives": the button pressed. */
export const messageMailForm = z.object({ mail: z.enum(['on', 'off'], 'Choose whether to email you when a message arrives.') });
/** The code that confirms an authenticator app: what the app shows (the service checks the digits). */
export const twoStepCodeForm = z.object({ code: typed('Type the code your authenticator app shows.').pipe(z.string().max(40, 'That code is too long.')) });

/** The status line after a form of the account page. */
export const doneQuery = z
  .object({
    done: z
      .enum([
        'name',
        'password',
        'email',
        'signed-out',
        'message-mail-on',
        'message-mail-off',
        'passkey-added',
        'passkey-removed',
        'app-removed',
        'two-step-off',
      ])
      .optional()
      .catch(undefined),
  })
  .catch({ done: undefined });

/** The close-account form: the password, and the second step's code when the person has one. */
export const closeForm = z.object({
  password: typed('Enter your password to close your account.').pipe(z.string().max(256, 'That is not your password. Your account is not closed.')),
  code: z.string().max(100).optional().catch(undefined),
  /** A passkey's answer instead of the code (JSON, checked by the service). */
  credential: z.string().max(32_000).optional().catch(undefined),
});

/** A new passkey: the name the person gives it, and the browser's answer (JSON, checked by the service). */
export const passkeyAddForm = z.object({
  name: z
    .string()
    .catch('')
    .pipe(z.string().trim().min(1, 'Name your passkey, for example “Phone” or “Laptop”.').max(100, 'That name is too long: 100 characters at most.')),
  credential: z.string().catch('').pipe(z.string().max(32_000)),
});

/** The password that confirms removing a second step, and for the authenticator app a current code. */
export const removeFactorForm = z.object({
  password: typed('Enter your password.').pipe(z.string().max(256, 'That is not your password. Nothing was removed.')),
  code: z.string().catch('').pipe(z.string().max(40, 'That code is too long.')),
});
