/**
 * What the Direct API and the inbox's Send form accept (issue 12 §2, §5), with messages naming the
 * field. Attachments' types and contents are checked by attachments.ts, for every way in alike.
 */
import { z } from 'zod';
import { isCleanText } from '../security/storable-text';
import { MAX_ATTACHMENTS, MAX_SUBJECT_CHARS, MAX_TEXT_CHARS } from './limits';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const address = (empty: string) =>
  z
    .string({ message: empty })
    .trim()
    .min(1, empty)
    .max(254, 'An address can be at most 254 characters.')
    .refine((value) => /^[^\s@]+@[^\s@]+$/.test(value), 'Enter a Direct address like sam.lee@direct.example.org.');

const subject = z
  .string({ message: 'subject must be text.' })
  .trim()
  .max(MAX_SUBJECT_CHARS, `The subject can be at most ${MAX_SUBJECT_CHARS} characters.`)
  .refine(isCleanText, 'Remove the control characters from the subject.');

const text = (field: string) =>
  z
    .string({ message: `${field} must be text.` })
    .max(MAX_TEXT_CHARS, `The ${field} can be at most ${MAX_TEXT_CHARS.toLocaleString('en')} characters; attach longer documents instead.`)
    .refine(isCleanText, `Remove the control characters from the ${field}.`);

/** `POST /api/direct/messages`. */
export const apiMessage = z.object({
  to: address('to must be the Direct address to send to.'),
  subject,
  text: text('text').default(''),
  attachments: z
    .array(
      z.object({
        filename: z.string({ message: 'Each attachment needs a filename.' }).min(1, 'Each attachment needs a filename.').max(1000),
        content_type: z.string({ message: 'Each attachment needs a content_type.' }).min(1, 'Each attachment needs a content_type.').max(255),
        data: z
          .string({ message: 'Each attachment needs its data, in base64.' })
          .transform((value) => value.replace(/\s+/g, ''))
          .refine((value) => value.length % 4 === 0 && BASE64.test(value), 'An attachment\'s data must be base64 (RFC 4648, with padding).'),
      }),
      { message: 'attachments must be a list.' },
    )
    .max(MAX_ATTACHMENTS, `A message can carry at most ${MAX_ATTACHMENTS} attachments.`)
    .default([]),
});

export type ApiMessage = z.infer<typeof apiMessage>;

/** The inbox's Send form (fields To, Subject, Message; files come separately). */
export const sendForm = z.object({
  to: address('Enter the Direct address to send to.'),
  subject,
  message: text('message').default(''),
});

export type SendForm = z.infer<typeof sendForm>;
