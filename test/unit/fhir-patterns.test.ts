/**
 * The FHIR primitive patterns on multi-megabyte values (found by the fuzz test): the
 * linear checks answer exactly as the schema's expressions do on ordinary values, and validation
 * of a resource with a huge value answers instead of overflowing the stack.
 */
import { fhirPatternEngine } from '../../src/fhir/patterns';
import { validateResource } from '../../src/fhir/validation';

const PATTERNS = ['^[^\\s]+(\\s[^\\s]+)*$', '^[ \\r\\n\\t\\S]+$', '^\\S*$', '^urn:oid:[0-2](\\.(0|[1-9][0-9]*))+$'];
const SAMPLES = [
  '',
  'a',
  ' a',
  'a ',
  'a b',
  'a  b',
  'a\tb',
  'a\u00a0b',
  'text/plain',
  'x\ny',
  'x\u2028y',
  '😀 😀',
  '\u000b',
  'urn:oid:1.2.3',
  'urn:oid:3.1',
  'urn:oid:1',
  'urn:oid:1.02',
  'urn:oid:2.0.10',
  'urn:oid:1.',
  'urn:oid:1..2',
  'http://x.example/a b',
];

test('the linear checks agree with the schema expressions', () => {
  const disagreements: string[] = [];
  for (const pattern of PATTERNS) {
    const native = new RegExp(pattern, 'u');
    for (const sample of SAMPLES) {
      // Pad past the length where the linear check takes over, keeping the answer the same.
      const long = sample.length > 0 && !/\s/.test(sample.at(-1) ?? '') && !sample.startsWith('urn:oid:') ? `${sample}${'x'.repeat(20_000)}` : sample;
      for (const value of [sample, long]) {
        if (fhirPatternEngine(pattern, 'u').test(value) !== native.test(value)) disagreements.push(`${pattern} on ${JSON.stringify(value.slice(0, 30))}`);
      }
    }
  }
  expect(disagreements).toEqual([]);
});

test('a resource with multi-megabyte values is validated, not overflowing the stack', () => {
  // Enough words that V8's backtracking stack overflows on the schema's own expression.
  const words = 'a\n'.repeat(3_000_000);
  expect(() => new RegExp(PATTERNS[0] ?? '', 'u').test(words)).toThrow(/call stack/);
  const result = validateResource(
    {
      resourceType: 'DocumentReference',
      status: 'current',
      content: [{ attachment: { contentType: words, data: Buffer.alloc(3_000_000, 1).toString('base64') } }],
    },
    'DocumentReference',
  );
  expect(result.valid).toBe(false);
  const fine = validateResource(
    {
      resourceType: 'DocumentReference',
      status: 'current',
      content: [{ attachment: { contentType: 'application/pdf', data: Buffer.alloc(3_000_000, 1).toString('base64') } }],
    },
    'DocumentReference',
  );
  expect(fine).toEqual({ valid: true });
});
