/**
 * The sharing forms, as zod reads them: the invitation (Email, Access, optional Expires date), a
 * change of level, and the invitation link's token.
 */
import { z } from 'zod';
import { SHARED_LEVELS } from '../records/access';

/** A date field (YYYY-MM-DD) as the end of that day, UTC; empty means no expiry. */
const expiryDay = z
  .string()
  .trim()
  .optional()
  .transform((value, context) => {
    if (!value) return null;
    const day = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T23:59:59.999Z`) : undefined;
    // A day that does not exist (31 February) is refused, not moved on to the next month.
    if (!day || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value) {
      context.addIssue({ code: 'custom', message: 'Enter the expiry as a date, or leave it empty.' });
      return z.NEVER;
    }
    return day;
  });

const level = z.enum(SHARED_LEVELS, { message: 'Choose View only, View and change or Full.' });

export const invitationForm = z.object({
  email: z.email({ message: 'Enter the email address of the person to invite.' }).max(254, { message: 'That email address is too long.' }),
  access: level,
  expires: expiryDay,
});

export const levelForm = z.object({ access: level });

/** An invitation link's token, as it arrives in the address or the form. */
export const tokenField = z.object({ token: z.string().min(16).max(200) });
