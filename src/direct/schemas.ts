/**
 * What the Direct API and the inbox's Send form accept, and what the API answers (the API's
 * schemas also make its OpenAPI document). The API words a refusal after the field's path
 * (`attachments[0].data: must be base64 …`); the form words it for the person at the form.
 * Attachments' types and contents are checked by attachments.ts, for every way in alike.
 */
import { z } from 'zod';
import { isCleanText } from '../security/storable-text';
import { ACCEPTED_WORDS } from './attachments';
import { MAX_ATTACHMENTS, MAX_SUBJECT_CHARS, MAX_TEXT_CHARS } from './limits';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ADDRESS = /^[^\s@]+@[^\s@]+$/;

const MAX_ADDRESS_CHARS = 254;

// --- The API ----------------------------------------------------------------------------------

/** `POST /api/direct/messages`. */
export const apiMessage = z
  .strictObject(
    {
      to: z
        .string({ error: 'must be the Direct address to send to' })
        .trim()
        .min(1, 'must be the Direct address to send to')
        .max(MAX_ADDRESS_CHARS, `must be at most ${MAX_ADDRESS_CHARS} characters`)
        .refine((value) => ADDRESS.test(value), 'must be a Direct address like sam.lee@direct.example.org')
        .meta({ description: 'The record’s Direct address.', example: 'sam.lee@direct.example.org' }),
      subject: z
        .string({ error: 'must be a string' })
        .trim()
        .max(MAX_SUBJECT_CHARS, `must be at most ${MAX_SUBJECT_CHARS} characters`)
        .refine(isCleanText, 'must be plain text, without control characters'),
      text: z
        .string({ error: 'must be a string' })
        .max(MAX_TEXT_CHARS, `must be at most ${MAX_TEXT_CHARS} characters; attach longer documents instead`)
        .refine(isCleanText, 'must be plain text, without control characters')
        .default('')
        .meta({ description: 'The message, as plain text.' }),
      attachments: z
        .array(
          z.strictObject(
            {
              filename: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'),
              content_type: z
                .string({ error: 'must be a string' })
                .min(1, 'must not be empty')
                .max(255, 'must be at most 255 characters')
                .meta({ description: `The file's type: ${ACCEPTED_WORDS}; its contents must match it.`, example: 'application/pdf' }),
              data: z
                .string({ error: 'must be a string' })
                .transform((value) => value.replace(/\s+/g, ''))
                .refine((value) => value.length % 4 === 0 && BASE64.test(value), 'must be base64 (RFC 4648, with padding)')
                .meta({ description: 'The file, in base64.', contentEncoding: 'base64' }),
            },
            {
              error: (issue) =>
                issue.code === 'unrecognized_keys'
                  ? `${issue.keys.join(', ')}: not a field of an attachment`
                  : 'must be an object with filename, content_type and data',
            },
          ),
          { error: 'must be an array of attachments' },
        )
        .max(MAX_ATTACHMENTS, `must hold at most ${MAX_ATTACHMENTS} attachments`)
        .default([]),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys' ? `${issue.keys.join(', ')}: not a field of a message` : 'The body must be a JSON object describing the message.',
    },
  )
  .meta({ id: 'DirectMessage' });

export const messageSent = z
  .strictObject({ id: z.uuid().meta({ description: 'The message’s id in the recipient’s inbox.' }) })
  .meta({ id: 'DirectMessageSent' });

// --- The inbox's Send form ----------------------------------------------------------------------

/** The inbox's Send form (fields To, Subject, Message; files come separately). */
export const sendForm = z.object({
  to: z
    .string({ message: 'Enter the Direct address to send to.' })
    .trim()
    .min(1, 'Enter the Direct address to send to.')
    .max(MAX_ADDRESS_CHARS, 'An address can be at most 254 characters.')
    .refine((value) => ADDRESS.test(value), 'Enter a Direct address like sam.lee@direct.example.org.'),
  subject: z
    .string({ message: 'subject must be text.' })
    .trim()
    .max(MAX_SUBJECT_CHARS, `The subject can be at most ${MAX_SUBJECT_CHARS} characters.`)
    .refine(isCleanText, 'Remove the control characters from the subject.'),
  message: z
    .string({ message: 'message must be text.' })
    .max(MAX_TEXT_CHARS, `The message can be at most ${MAX_TEXT_CHARS.toLocaleString('en')} characters; attach longer documents instead.`)
    .refine(isCleanText, 'Remove the control characters from the message.')
    .default(''),
});
