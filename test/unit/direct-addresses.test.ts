/**
 * Direct addresses (src/direct/addresses.ts): names folded to ASCII local parts,
 * numbered candidates, and which addresses name a carevault record.
 */
import { candidate, firstFree, localPartBase, localPartOf } from '../../src/direct/addresses';

describe('localPartBase', () => {
  test.each([
    ['Sam Lee', 'sam.lee'],
    ['  Sam   Lee  ', 'sam.lee'],
    ['Zoë Ångström', 'zoe.angstrom'],
    ['Ørjan Ødegård', 'orjan.odegard'],
    ['Jürgen Groß', 'jurgen.gross'],
    ['Łukasz Żółć', 'lukasz.zolc'],
    ['Ali ibn Abī Ṭālib', 'ali.ibn.abi.talib'],
    ['Ольга Петрова', 'olga.petrova'],
    ["Mary-Jane O'Brien", 'mary.jane.obrien'],
    ['Dr. A. B. Smith', 'dr.a.b.smith'],
    ['李明', 'record'],
    ['<script>alert(1)</script>', 'script.alert.1.script'],
    ['', 'record'],
  ])('%j → %s', (name, expected) => {
    expect(localPartBase(name)).toBe(expected);
  });

  test('a long name is cut to leave room for a number within 64 characters', () => {
    const base = localPartBase('Bartholomew Maximilian Alexander Montgomery-Fitzwilliam Worthington the Third');
    expect(base.length).toBeLessThanOrEqual(58);
    expect(base).not.toMatch(/\.$/);
    expect(`${candidate(base, 9999)}`.length).toBeLessThanOrEqual(64);
  });
});

describe('candidates', () => {
  test('sam.lee, sam.lee2, sam.lee3; a base ending in a digit gets a dot first', () => {
    expect([1, 2, 3].map((n) => candidate('sam.lee', n))).toEqual(['sam.lee', 'sam.lee2', 'sam.lee3']);
    expect(candidate('room.101', 2)).toBe('room.101.2');
  });

  test('the first free one', () => {
    expect(firstFree('sam.lee', new Set())).toBe(1);
    expect(firstFree('sam.lee', new Set(['sam.lee', 'sam.lee2', 'sam.leeson']))).toBe(3);
    expect(firstFree('sam.lee', new Set(['sam.lee2']))).toBe(1);
  });
});

describe('localPartOf', () => {
  test('addresses at the domain, any case, trimmed', () => {
    expect(localPartOf('sam.lee@direct.localhost', 'direct.localhost')).toBe('sam.lee');
    expect(localPartOf('  Sam.Lee2@DIRECT.localhost ', 'direct.localhost')).toBe('sam.lee2');
  });

  test.each([
    'sam.lee@elsewhere.example',
    'sam.lee',
    '@direct.localhost',
    'sam..lee@direct.localhost',
    '.sam@direct.localhost',
    'sam+x@direct.localhost',
    `${'a'.repeat(65)}@direct.localhost`,
    'a@b@direct.localhost',
  ])('%s is not a carevault address', (address) => {
    expect(localPartOf(address, 'direct.localhost')).toBeUndefined();
  });
});
