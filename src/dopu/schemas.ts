/**
 * What the DOPU API and the pickup forms accept, and what the API answers (the same schemas check
 * requests and make the OpenAPI document). `friendly_name` and `question` are
 * shown to whoever holds the code, and the name also in the pickup email carevault sends to any
 * address the app gives: one line of plain text (pages escape it; no markup survives), with no
 * control or direction-changing characters and no web address — mail programs turn
 * `clinic.example/login` into a link, and the email must not carry an app's links in carevault's
 * name. The answer counts as it is compared — at least 6 characters once trimmed and collapsed.
 */
import { z } from 'zod';
import { isCleanText } from '../security/storable-text';
import { listQuery, nextLink, sinceFilter, statusFilter } from '../api/paging';
import { MIN_ANSWER_LENGTH } from '../rules/healthvault';
import { normalizeAnswer } from '../security/answers';

const MAX_RESOURCES = 100;
export const MAX_PACKAGE_BYTES = 5 * 1024 * 1024;
export const PACKAGE_STATUSES = ['pending', 'picked_up', 'declined', 'expired', 'locked', 'withdrawn'] as const;
export type PackageStatus = (typeof PACKAGE_STATUSES)[number];

const LINE_BREAK = /[\r\n\u2028\u2029]/;

/** Marks that reorder or hide text (Unicode bidirectional controls): "scan\u202Efdp.exe" reads as "scanexe.pdf". */
const DIRECTION_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;

/**
 * What mail programs and browsers take for a link: a scheme (`https://`, `mailto:`), `www.`, or a
 * host name — labels joined by dots ending in a name of letters (or punycode), as in
 * `evil.example`, `bit.ly/x` or `help@clinic.example`. "Dr. Smith", "St. Mary’s", "v1.2" and
 * "e.g." are not. Dots that IDNA reads as dots count as dots.
 */
const WEB_ADDRESS = [
  /[a-z][a-z0-9+.-]*:\/\/\S*/i,
  /\b(?:mailto|javascript|vbscript|data|file|tel|sms|callto):\S*/i,
  /\bwww\d{0,3}\.\S*/i,
  /(?<![\p{L}\p{N}_.-])(?:[\p{L}\p{N}][\p{L}\p{N}_-]*\.)+(?:\p{L}{2,63}|xn--[a-z0-9-]{1,59})(?![\p{L}\p{N}_-])/iu,
];

/** The first web address in `text`, as it would be read; `undefined` when there is none. */
export function webAddressIn(text: string): string | undefined {
  const read = text.normalize('NFKC').replace(/[\u3002\uFF0E\uFF61]/g, '.');
  for (const pattern of WEB_ADDRESS) {
    const found = pattern.exec(read)?.[0];
    if (found) return found;
  }
  return undefined;
}

function oneLine(max: number) {
  return z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine(
      (value) => isCleanText(value) && !LINE_BREAK.test(value) && !DIRECTION_CONTROL.test(value),
      'must be one line of plain text, without control characters',
    );
}

/** One line a person reads before answering (and the name, in the pickup email too): no web addresses. */
function shownLine(max: number) {
  return oneLine(max).superRefine((value, context) => {
    const found = webAddressIn(value);
    if (found)
      context.addIssue({
        code: 'custom',
        message: `must not contain a web address or link (found "${found}"): it is shown in the pickup email and on the pickup page`,
      });
  });
}

export const dropOffBody = z
  .strictObject(
    {
      friendly_name: shownLine(200).meta({
        description: 'What the package is, as the person sees it on the pickup page and in the email.',
        example: 'Your results from Riverside Clinic',
      }),
      question: shownLine(500).meta({ description: 'The secret question the person answers to pick the package up.' }),
      answer: z
        .string({ error: 'must be a string' })
        .max(200, 'must be at most 200 characters')
        .refine(isCleanText, 'must be plain text, without control characters')
        .refine(
          (value) => normalizeAnswer(value).length >= MIN_ANSWER_LENGTH,
          `must be at least ${MIN_ANSWER_LENGTH} characters (spaces at either end do not count)`,
        )
        .meta({
          description: `The answer, compared without regard to case or surrounding spaces; at least ${MIN_ANSWER_LENGTH} characters. The contents are sealed under it.`,
        }),
      external_id: oneLine(200).optional().meta({ description: 'The app’s own reference for the package.' }),
      email: z
        .email({ error: 'must be an email address like name@example.com' })
        .max(254, 'must be at most 254 characters')
        .optional()
        .meta({ description: 'Where carevault mails the person the pickup link.' }),
      resources: z
        .array(z.unknown().meta({ override: { type: 'object', required: ['resourceType'], properties: { resourceType: { type: 'string' } } } }), {
          error: 'must be an array of FHIR resources',
        })
        .min(1, 'must hold at least one resource')
        .max(MAX_RESOURCES, `must hold at most ${MAX_RESOURCES} resources`)
        .meta({ description: 'FHIR R4 resources of the types a record holds (not Patient); each is checked as the record would check it.' }),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys' ? `${issue.keys.join(', ')}: not a field of a package` : 'The body must be a JSON object describing the package.',
    },
  )
  .meta({ id: 'DropOff' });

export type DropOffBody = z.infer<typeof dropOffBody>;

export const packageListQuery = listQuery({
  status: statusFilter(PACKAGE_STATUSES, 'Only packages in this status.'),
  since: sinceFilter('Only packages whose status changed at or after this time.'),
});

export const packageId = z.strictObject({ id: z.string().meta({ description: 'The id the drop-off answered.', format: 'uuid' }) });

const instant = z.iso.datetime({ offset: true });

export const dropOffReceipt = z
  .strictObject({
    id: z.uuid(),
    pickup_code: z.string().meta({ description: 'The code to hand the person: 20 letters in 5 groups of 4.', example: 'JKYZ-QNMN-VHRX-ZGNR-GZNH' }),
    pickup_url: z.url().meta({ description: 'Where the person picks the package up.' }),
    expires_at: instant,
  })
  .meta({ id: 'DropOffReceipt' });

export type DropOffReceipt = z.infer<typeof dropOffReceipt>;

/** A package as its app sees it: its state, never its contents. */
export const packageStatus = z
  .strictObject({
    id: z.uuid(),
    external_id: z.string().nullable(),
    status: z.enum(PACKAGE_STATUSES),
    created_at: instant,
    expires_at: instant,
    updated_at: instant.meta({ description: 'When the status last changed.' }),
    picked_up_at: instant.optional(),
  })
  .meta({ id: 'PackageStatus' });

export type PackageStatusView = z.infer<typeof packageStatus>;

export const packageList = z.strictObject({ packages: z.array(packageStatus), next: nextLink }).meta({ id: 'PackageList' });

export const codeForm = z.object({ code: z.string().max(200).default('') });

export const answerForm = z.object({
  code: z.string().max(200).default(''),
  answer: z
    .string()
    .max(200, 'The answer can be at most 200 characters.')
    .refine((value) => value.trim() !== '', 'Enter the answer to the question.'),
});

/** The record a package goes into, among the person's (checked against them by the page). */
export const recordForm = z.object({ record: z.string().max(64) });

/** Accept or Decline on the review page; the package and the record come from the person's pickup step. */
export const decisionForm = z.object({ decision: z.enum(['accept', 'decline']) });
