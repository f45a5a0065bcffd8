/**
 * What a Direct message may carry (src/direct/attachments.ts): PDF, PNG, JPEG, plain
 * text, C-CDA/CDA XML and FHIR JSON, each only when the bytes are what the type says; 20
 * attachments and 25 MB at most; safe file names that end with the checked type's extension.
 */
import { checkAttachment, checkAttachments, cleanFilename, storedFilename, storedNameOf } from '../../src/direct/attachments';
import { MessageTooLarge, RefusedAttachment, RefusedMessage } from '../../src/direct/errors';
import { cdaDocumentCode } from '../../src/direct/filing';
import { CCDA, GIF, PDF, PNG } from '../support/direct';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]);
const PATIENT = Buffer.from(JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [] }));

const refusal = (attempt: () => unknown): string => {
  try {
    attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(RefusedAttachment);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('checkAttachment accepts', () => {
  test.each([
    ['a.pdf', 'application/pdf', PDF, 'application/pdf', 'pdf'],
    ['a.png', 'image/png', PNG, 'image/png', 'png'],
    ['a.jpg', 'image/jpeg', JPEG, 'image/jpeg', 'jpeg'],
    ['a.jpg', 'image/jpg', JPEG, 'image/jpeg', 'jpeg'],
    ['a.txt', 'text/plain', Buffer.from('hello'), 'text/plain; charset=utf-8', 'text'],
    ['a.txt', 'text/plain; charset="ISO-8859-1"', Buffer.from('hello'), 'text/plain; charset=iso-8859-1', 'text'],
    ['ccd.xml', 'application/xml', CCDA, 'application/xml', 'cda'],
    ['ccd.xml', 'TEXT/XML', CCDA, 'text/xml', 'cda'],
    ['ccd.xml', 'application/octet-stream', CCDA, 'application/xml', 'cda'],
    ['b.json', 'application/fhir+json', PATIENT, 'application/fhir+json', 'fhir'],
    ['b.json', 'application/json', PATIENT, 'application/fhir+json', 'fhir'],
    ['scan.PDF', 'application/octet-stream', PDF, 'application/pdf', 'pdf'],
  ])('%s as %s', (filename, type, content, stored, kind) => {
    expect(checkAttachment({ filename, contentType: type, content }, 0)).toMatchObject({ filename, contentType: stored, kind });
  });

  test('a CDA with a namespace prefix, a BOM, comments and processing instructions before the root', () => {
    const prefixed = Buffer.from(
      '\uFEFF<?xml version="1.0"?>\n<!-- sent by Riverside -->\n<?xml-stylesheet href="cda.xsl"?>\n<hl7:ClinicalDocument xmlns:hl7="urn:hl7-org:v3"><hl7:code code="11506-3" codeSystem="2.16.840.1.113883.6.1"/></hl7:ClinicalDocument>',
    );
    expect(checkAttachment({ filename: 'n.xml', contentType: 'text/xml', content: prefixed }, 0).kind).toBe('cda');
    expect(cdaDocumentCode(prefixed)).toEqual({ system: 'http://loinc.org', code: '11506-3' });
    expect(cdaDocumentCode(CCDA)).toEqual({ system: 'http://loinc.org', code: '34133-9', display: 'Summarization of Episode Note' });
  });
});

describe('checkAttachment refuses, naming the file and the reason', () => {
  test('types carevault does not take', () => {
    expect(refusal(() => checkAttachment({ filename: 'cat.gif', contentType: 'image/gif', content: GIF }, 0))).toBe(
      'The attachment "cat.gif" is of type image/gif, which carevault does not accept: attach PDF, PNG, JPEG, plain text, C-CDA/CDA (XML) or FHIR (JSON).',
    );
    expect(refusal(() => checkAttachment({ filename: 'page.html', contentType: 'text/html', content: Buffer.from('<p>') }, 0))).toMatch(/of type text\/html/);
    expect(refusal(() => checkAttachment({ filename: 'run.exe', contentType: 'application/octet-stream', content: Buffer.from('MZ') }, 0))).toMatch(
      /"run\.exe" is of an unknown type/,
    );
    expect(refusal(() => checkAttachment({ filename: 'x', contentType: '', content: PDF }, 0))).toMatch(/of type unknown/);
  });

  test('content that is not what its type says', () => {
    expect(refusal(() => checkAttachment({ filename: 'a.pdf', contentType: 'application/pdf', content: PNG }, 0))).toBe(
      'The attachment "a.pdf" is not a PDF, though its type says so.',
    );
    expect(refusal(() => checkAttachment({ filename: 'a.png', contentType: 'image/png', content: JPEG }, 0))).toMatch(/is not a PNG image/);
    expect(refusal(() => checkAttachment({ filename: 'a.jpg', contentType: 'image/jpeg', content: PNG }, 0))).toMatch(/is not a JPEG image/);
    expect(refusal(() => checkAttachment({ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from([0x41, 0x00, 0x42]) }, 0))).toMatch(
      /is not a plain text/,
    );
    expect(refusal(() => checkAttachment({ filename: 'a.json', contentType: 'application/json', content: Buffer.from('{"name": "x"}') }, 0))).toMatch(
      /is not a FHIR resource/,
    );
    expect(refusal(() => checkAttachment({ filename: 'a.json', contentType: 'application/json', content: Buffer.from('[1,2]') }, 0))).toMatch(
      /is not a FHIR resource/,
    );
  });

  test('XML that is not a CDA: another root, the wrong namespace, a DOCTYPE', () => {
    const cases = [
      '<note xmlns="urn:hl7-org:v3"/>',
      '<ClinicalDocument xmlns="urn:example"/>',
      '<ClinicalDocument/>',
      '<?xml version="1.0"?><!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument xmlns="urn:hl7-org:v3">&x;</ClinicalDocument>',
      '<x:ClinicalDocument xmlns:y="urn:hl7-org:v3"/>',
    ];
    for (const xml of cases) {
      expect(refusal(() => checkAttachment({ filename: 'doc.xml', contentType: 'application/xml', content: Buffer.from(xml) }, 0))).toMatch(
        /is not a CDA document \(its root element must be ClinicalDocument in the urn:hl7-org:v3 namespace\)/,
      );
    }
  });
});

describe('checkAttachments', () => {
  const png = { filename: 'p.png', contentType: 'image/png', content: PNG };

  test('20 attachments pass, 21 are refused', () => {
    expect(
      checkAttachments(
        Array.from({ length: 20 }, () => png),
        0,
      ),
    ).toHaveLength(20);
    expect(() =>
      checkAttachments(
        Array.from({ length: 21 }, () => png),
        0,
      ),
    ).toThrow(RefusedMessage);
    expect(() =>
      checkAttachments(
        Array.from({ length: 21 }, () => png),
        0,
      ),
    ).toThrow('A message can carry at most 20 attachments; this one has 21.');
  });

  test('25 MB with the text passes; a byte more is refused', () => {
    const big = Buffer.alloc(25 * 1024 * 1024 - 10, 0x20);
    big.write('%PDF-1.4');
    expect(checkAttachments([{ filename: 'a.pdf', contentType: 'application/pdf', content: big }], 10)).toHaveLength(1);
    expect(() => checkAttachments([{ filename: 'a.pdf', contentType: 'application/pdf', content: big }], 11)).toThrow(MessageTooLarge);
  });

  test('one bad attachment refuses the message', () => {
    expect(() => checkAttachments([png, { filename: 'cat.gif', contentType: 'image/gif', content: GIF }], 0)).toThrow('"cat.gif"');
  });
});

describe('cleanFilename', () => {
  test.each([
    ['results.pdf', 'results.pdf'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\sam\\scan.pdf', 'scan.pdf'],
    ['a\u0000b\u001bc.txt', 'abc.txt'],
    ['  spaced   out .pdf ', 'spaced out .pdf'],
    // Format characters: a right-to-left override, isolates, zero-width ones, a BOM, a soft hyphen.
    ['scan\u202Efdp.js', 'scanfdp.js'],
    ['a\u2066b\u2069\u200B\u200D\uFEFF\u00ADc.pdf', 'abc.pdf'],
    ['line\u2028break.pdf', 'line break.pdf'],
    ['.hidden.pdf.', 'hidden.pdf'],
    ['', 'attachment-3'],
    ['..', 'attachment-3'],
    ['\u202E', 'attachment-3'],
    ['dir/', 'attachment-3'],
  ])('%j → %j', (raw, clean) => {
    expect(cleanFilename(raw, 2)).toBe(clean);
  });

  test('a long name keeps its extension within 200 characters', () => {
    const clean = cleanFilename(`${'x'.repeat(300)}.pdf`, 0);
    expect(clean).toHaveLength(200);
    expect(clean.endsWith('.pdf')).toBe(true);
  });
});

describe("storedFilename: the checked kind's extension ends every name", () => {
  test.each([
    ['scan\u202Efdp.js', 'pdf', 'scanfdp.js.pdf'],
    ['page.html', 'text', 'page.html.txt'],
    ['open.hta', 'cda', 'open.hta.xml'],
    ['photo', 'png', 'photo.png'],
    ['photo.jpeg', 'jpeg', 'photo.jpeg'],
    ['photo.JPG', 'jpeg', 'photo.JPG'],
    ['bundle.json', 'fhir', 'bundle.json'],
    ['notes.text', 'text', 'notes.text'],
    ['report.', 'pdf', 'report.pdf'],
    ['', 'pdf', 'attachment-1.pdf'],
  ] as const)('%j as %s → %j', (raw, kind, stored) => {
    expect(storedFilename(raw, kind, 0)).toBe(stored);
  });

  test('a long name is cut to leave room for the extension', () => {
    const stored = storedFilename(`${'x'.repeat(300)}.exe`, 'pdf', 0);
    expect(stored).toHaveLength(200);
    expect(stored.endsWith('x.pdf')).toBe(true);
  });

  test('checkAttachment gives the stored name; a name kept before the rule is shown by it', () => {
    expect(checkAttachment({ filename: 'invoice.pdf\u202Eexe.hta', contentType: 'application/pdf', content: PDF }, 0).filename).toBe('invoice.pdfexe.hta.pdf');
    expect(storedNameOf('scan\u202Efdp.js', 'application/pdf')).toBe('scanfdp.js.pdf');
    expect(storedNameOf('scanfdp.js.pdf', 'application/pdf')).toBe('scanfdp.js.pdf');
    expect(storedNameOf('odd\u202E.bin', 'application/x-unknown')).toBe('odd.bin');
  });
});
