/**
 * DOPU's pure parts: pickup codes (alphabet, shape, normalization, hashing), sealing
 * under the answer (argon2id + AES-256-GCM), the checks a dropped-off resource passes, how
 * resources are re-pointed into a record, and the review in plain words.
 */
import { randomUUID } from 'node:crypto';
import { formatPickupCode, hashPickupCode, newPickupCode, normalizePickupCode } from '../../src/dopu/codes';
import { checkContents, intoRecord } from '../../src/dopu/contents';
import { ConfigError, loadConfig } from '../../src/config';
import { createMailer } from '../../src/mail';
import { reviewOf } from '../../src/dopu/review';
import { webAddressIn } from '../../src/dopu/schemas';
import { createPackageKeys, deriveKey, newSalt, open, seal } from '../../src/dopu/sealing';
import { CODE_ALPHABET, CODE_MASK } from '../../src/rules/healthvault';
import { normalizeAnswer } from '../../src/security/answers';
import { createTicketSealer } from '../../src/dopu/ticket';
import { PDF, sampleResources } from '../support/dopu';
import { freePort } from '../support/scratch';

describe('pickup codes', () => {
  test('20 letters of the 20-letter base-20 alphabet, shown as 5 groups of 4, evenly spread', () => {
    expect(CODE_ALPHABET).toBe('BCDFGHJKLMNPQRSTVWXZ');
    expect(CODE_MASK).toBe('****-****-****-****-****');
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i += 1) {
      const code = newPickupCode();
      expect(code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{20}$/);
      for (const letter of code) counts.set(letter, (counts.get(letter) ?? 0) + 1);
    }
    expect(counts.size).toBe(20);
    // 40,000 letters: each of the 20 about 2,000 times.
    for (const count of counts.values()) expect(Math.abs(count - 2000)).toBeLessThan(300);
    expect(formatPickupCode('JKWZQNMNVHRXZGNRGZNH')).toBe('JKWZ-QNMN-VHRX-ZGNR-GZNH');
  });

  test('typed codes are accepted in any case, with or without dashes or spaces; others are not codes', () => {
    for (const typed of ['JKWZ-QNMN-VHRX-ZGNR-GZNH', 'jkwzqnmnvhrxzgnrgznh', ' jkwz qnmn vhrx zgnr gznh ', 'Jkwz-Qnmn vhrx–zgnr gznh']) {
      expect(normalizePickupCode(typed)).toBe('JKWZQNMNVHRXZGNRGZNH');
    }
    // The documented example code has a Y, which is not in the alphabet (no vowels, and Y can be one).
    expect(normalizePickupCode('JKYZ-QNMN-VHRX-ZGNR-GZNH')).toBeUndefined();
    for (const typed of ['', 'JKWZ-QNMN-VHRX-ZGNR', 'JKWZ-QNMN-VHRX-ZGNR-GZNA', 'JKWZ-QNMN-VHRX-ZGNR-GZNH-B', '1234-QNMN-VHRX-ZGNR-GZNH']) {
      expect(normalizePickupCode(typed)).toBeUndefined();
    }
    expect(hashPickupCode('JKWZQNMNVHRXZGNRGZNH')).toMatch(/^[0-9a-f]{64}$/);
    expect(hashPickupCode('JKWZQNMNVHRXZGNRGZNH')).not.toBe(hashPickupCode('JKWZQNMNVHRXZGNRGZNB'));
  });
});

describe('sealing under the answer', () => {
  test('the answer is compared trimmed, case-folded and with inner spaces collapsed', async () => {
    expect(normalizeAnswer('  Blue   WHALE \t')).toBe('blue whale');
    const salt = newSalt();
    const id = randomUUID();
    const started = Date.now();
    const key = await deriveKey('Blue Whale', salt);
    const took = Date.now() - started;
    console.log(`argon2id key derivation: ${took} ms`);
    const sealed = seal(Buffer.from('{"secret":true}'), key, id);
    expect(sealed.toString('utf8')).not.toContain('secret');
    expect(open(sealed, await deriveKey(' blue  whale ', salt), id)?.toString()).toBe('{"secret":true}');
    expect(open(sealed, await deriveKey('blue whales', salt), id)).toBeUndefined();
    // Another salt, another package id: nothing opens.
    expect(open(sealed, await deriveKey('Blue Whale', newSalt()), id)).toBeUndefined();
    expect(open(sealed, key, randomUUID())).toBeUndefined();
    const tampered = Buffer.from(sealed);
    tampered[20] = (tampered[20] ?? 0) ^ 1;
    expect(open(tampered, key, id)).toBeUndefined();
  });

  test('the key of a new package needs the pepper too; a version-1 key is the answer and the salt alone', async () => {
    const pepper = Buffer.from('a-server-pepper-of-at-least-32-characters');
    const keys = createPackageKeys(async () => pepper);
    const salt = newSalt();
    const id = randomUUID();
    expect(keys.current).toBe(2);
    const sealed = seal(Buffer.from('{"secret":true}'), await keys.derive('Blue Whale', salt, keys.current), id);
    expect(open(sealed, await keys.derive(' blue whale', salt, 2), id)?.toString()).toBe('{"secret":true}');
    expect(open(sealed, await deriveKey('Blue Whale', salt), id)).toBeUndefined();
    expect(
      open(sealed, await createPackageKeys(async () => Buffer.from('another-pepper-of-at-least-32-characters')).derive('Blue Whale', salt, 2), id),
    ).toBeUndefined();
    const legacy = seal(Buffer.from('{"old":true}'), await deriveKey('Blue Whale', salt), id);
    expect(open(legacy, await keys.derive('Blue Whale', salt, 1), id)?.toString()).toBe('{"old":true}');
    await expect(keys.derive('Blue Whale', salt, 3)).rejects.toThrow('package key version 3 is not one this server knows');
  });

  test('a pickup ticket opens only for its person, unchanged, and before it ends', async () => {
    let now = new Date('2026-01-02T10:00:00Z');
    const tickets = createTicketSealer('a-server-secret-of-at-least-32-characters!', () => now);
    const key = Buffer.alloc(32, 7);
    const value = await tickets.seal({ packageId: 'p1', personId: 'alice', key });
    expect(value).not.toContain(key.toString('base64url'));
    expect(await tickets.open(value, 'alice')).toEqual({ packageId: 'p1', personId: 'alice', key });
    expect(await tickets.open(value, 'bob')).toBeUndefined();
    // A changed character of the tag (one whose six bits all count: a base64url value's last may carry unused ones).
    const at = value.length - 5;
    const altered = `${value.slice(0, at)}${value[at] === 'A' ? 'B' : 'A'}${value.slice(at + 1)}`;
    expect(await tickets.open(altered, 'alice')).toBeUndefined();
    expect(await createTicketSealer('another-server-secret-of-32-characters!!', () => now).open(value, 'alice')).toBeUndefined();
    now = new Date(now.getTime() + 31 * 60 * 1000);
    expect(await tickets.open(value, 'alice')).toBeUndefined();
  });
});

describe('dropped-off resources', () => {
  test('are checked as the records API checks them, each refusal naming the resource and the element', () => {
    const [observation, condition] = sampleResources();
    const refused = (resources: unknown[]) => {
      try {
        checkContents(resources);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(checkContents(sampleResources())).toHaveLength(3);
    expect(
      refused([
        observation,
        { ...condition, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'bogus' }] } },
      ]),
    ).toMatch(/^resources\[1\]\.clinicalStatus/);
    expect(refused([{ ...observation, status: 'bogus' }])).toMatch(/^resources\[0\]\.status: "bogus" is not an allowed code here/);
    const { status: _status, ...withoutStatus } = observation as Record<string, unknown>;
    expect(refused([withoutStatus])).toMatch(/^resources\[0\]\.status: The required element "status" is missing\./);
    expect(refused([{ ...observation, colour: 'red' }])).toBe('resources[0].colour: "colour" is not an element FHIR R4 defines here.');
    expect(refused([{ resourceType: 'Patient', name: [{ text: 'Someone' }] }])).toMatch(/^resources\[0\]\.resourceType: a package cannot carry a Patient/);
    expect(refused([{ resourceType: 'Organization', name: 'Clinic' }])).toMatch(
      /^resources\[0\]\.resourceType: must be one of the types a record holds: Observation, Condition/,
    );
    expect(refused(['text'])).toBe('resources[0]: must be a FHIR resource (a JSON object).');
    expect(refused([{ ...observation, subject: { reference: 'Group/7' } }])).toMatch(/^resources\[0\]\.subject: must be a Reference to the patient/);
    expect(refused([{ ...observation, subject: 'Patient/7' }])).toMatch(/^resources\[0\]\.subject: /);
    expect(refused([observation, { ...observation }])).toMatch(/^resources\[1\]\.id: another Observation in the package has the id "weight-1"/);
    expect(refused([{ ...observation, note: [{ text: 'a\u0000b' }] }])).toBe(
      'resources[0].note[0].text: text cannot contain NUL characters or broken Unicode.',
    );
  });

  test('go into a record with new ids, references between them kept, and the patient re-pointed', () => {
    const recordId = randomUUID();
    const resources = checkContents([
      ...sampleResources(),
      {
        resourceType: 'Observation',
        id: '0f5c8a7e-6d0b-4c55-9d1c-0d2f2a3b4c5d',
        status: 'final',
        code: { text: 'Height' },
        // Another element naming the same patient follows the subject; a URN names a package resource.
        performer: [{ reference: 'Patient/riverside-77' }, { reference: 'Practitioner/dr-lee' }],
        hasMember: [{ reference: 'Observation/weight-1' }],
        derivedFrom: [{ reference: 'urn:uuid:0f5c8a7e-6d0b-4c55-9d1c-0d2f2a3b4c5d' }],
      },
    ]);
    const written = intoRecord(resources, recordId);
    const [weight, condition, document, height] = written;
    expect(new Set(written.map((resource) => resource.id)).size).toBe(4);
    for (const resource of written) {
      expect(resource.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(resource.body.id).toBeUndefined();
      expect(resource.body.subject).toEqual({ reference: `Patient/${recordId}` });
    }
    expect((condition?.body.evidence as any)[0].detail[0].reference).toBe(`Observation/${weight?.id}`);
    expect((document?.body.context as any).related).toEqual([{ reference: `Observation/${weight?.id}` }, { reference: `Condition/${condition?.id}` }]);
    expect(height?.body.performer).toEqual([{ reference: `Patient/${recordId}` }, { reference: 'Practitioner/dr-lee' }]);
    expect(height?.body.hasMember).toEqual([{ reference: `Observation/${weight?.id}` }]);
    expect(height?.body.derivedFrom).toEqual([{ reference: `Observation/${height?.id}` }]);
    expect((document?.body.content as any)[0].attachment.data).toBe(PDF.toString('base64'));
  });

  test('are reviewed in plain words by type', () => {
    const review = reviewOf(checkContents(sampleResources()));
    expect(review.map((group) => group.heading)).toEqual(['1 observation', '1 condition', '1 document']);
    expect(review[0]?.items).toEqual(['Body weight — 72 kg on 2 Jan 2026']);
    expect(review[1]?.items[0]).toMatch(/^Quokka-syndrome-8821 on 2 Jan 2026$/);
    expect(review[2]?.items[0]).toMatch(/^Discharge letter on 2 Jan 2026, with discharge-letter\.pdf \(PDF, \d+ bytes\)$/);
  });
});

describe('words shown in the pickup email and page', () => {
  test('web addresses are found in every form a mail program would link; ordinary dotted words are not', () => {
    const found: [string, string][] = [
      ['Your results: https://evil.example/login now', 'https://evil.example/login'],
      ['Did you visit bit.ly/3xYz?', 'bit.ly'],
      ['See www.evil-clinic.com today', 'www.evil-clinic.com'],
      ['Reply to help@evil.example', 'evil.example'],
      ['write to mailto:help@x', 'mailto:help@x'],
      ['evil．example (full-width dot)', 'evil.example'],
      ['evil。example (ideographic full stop)', 'evil.example'],
      ['klinik.xn--p1ai', 'klinik.xn--p1ai'],
      ['Ärzte.de', 'Ärzte.de'],
      ['Open RESULTS.PDF', 'RESULTS.PDF'],
    ];
    for (const [text, address] of found) expect([text, webAddressIn(text)]).toEqual([text, address]);
    for (const text of [
      'Dr. Smith’s results (v1.2), e.g. weight — St. Mary’s',
      'Results from 2 Jan 2026, 10.30 a.m.',
      'What is the name of the toy you brought to the clinic?',
      'No. 5, U.S.A., i.e. Mr. Avery',
      'Blood pressure 120/80',
    ]) {
      expect([text, webAddressIn(text)]).toEqual([text, undefined]);
    }
  });
});

describe('mail', () => {
  test('with SMTP_URL the mailer talks SMTP: an unreachable server is an error the caller sees', async () => {
    const mailer = createMailer({ smtpUrl: `smtp://127.0.0.1:${await freePort()}`, outboxDir: '/nonexistent', from: 'carevault <no-reply@localhost>' });
    await expect(mailer.send({ to: 'someone@example.org', subject: 'Hello', text: 'Hi' })).rejects.toMatchObject({ code: 'ESOCKET' });
  });
});

describe('settings', () => {
  test('SMTP_URL, MAIL_FROM and the PICKUP_ limits: defaults and one clear line for a bad value', () => {
    const unset = { PICKUP_CODE_FAILURES_PER_ADDRESS: undefined, PICKUP_WRONG_ANSWERS_PER_PERSON: undefined, PICKUP_EMAILS_PER_APP: undefined };
    const defaults = loadConfig({ ISSUER: 'https://vault.example.org', SMTP_URL: '', MAIL_FROM: '', ...unset });
    expect(defaults.mail).toEqual({ smtpUrl: undefined, from: 'carevault <no-reply@vault.example.org>' });
    expect([defaults.pickupCodeFailuresPerAddress, defaults.pickupWrongAnswersPerPerson, defaults.pickupEmailsPerApp]).toEqual([20, 10, 20]);
    const set = loadConfig({
      SMTP_URL: 'smtps://user:secret@mail.example.org:465',
      MAIL_FROM: 'Vault <vault@example.org>',
      PICKUP_CODE_FAILURES_PER_ADDRESS: '7',
      PICKUP_WRONG_ANSWERS_PER_PERSON: '4',
      PICKUP_EMAILS_PER_APP: '100',
    });
    expect(set.mail).toEqual({ smtpUrl: 'smtps://user:secret@mail.example.org:465', from: 'Vault <vault@example.org>' });
    expect([set.pickupCodeFailuresPerAddress, set.pickupWrongAnswersPerPerson, set.pickupEmailsPerApp]).toEqual([7, 4, 100]);
    expect(() => loadConfig({ SMTP_URL: 'http://mail.example.org' })).toThrow(
      new ConfigError('setting SMTP_URL is invalid: must be an smtp:// or smtps:// URL'),
    );
    for (const name of ['PICKUP_CODE_FAILURES_PER_ADDRESS', 'PICKUP_WRONG_ANSWERS_PER_PERSON', 'PICKUP_EMAILS_PER_APP']) {
      expect(() => loadConfig({ [name]: '0' })).toThrow(new RegExp(`^setting ${name} is invalid`));
    }
  });
});
