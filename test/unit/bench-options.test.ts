/**
 * The bench's options (bench/options.ts): `--help` asks for the usage, each option is read from the
 * command line or its BENCH_ variable, and an unknown option or a bad value is refused with words
 * naming what is accepted — never a whole run with the option ignored.
 */
import { USAGE, readOptions } from '../../bench/options';

test('--help asks for the usage, which names every option', () => {
  expect(readOptions(['--help'], {})).toBe('help');
  expect(readOptions(['--seconds', '3', '-h'], {})).toBe('help');
  for (const name of ['seconds', 'connections', 'chains', 'flows', 'bulk', 'db', 'paths', 'json', 'help']) expect(USAGE).toContain(`--${name}`);
});

test('options come from the command line, then from BENCH_ variables, then the defaults', () => {
  expect(readOptions(['--seconds=3', '--paths', 'FHIR read, front layers'], { BENCH_CONNECTIONS: '4' })).toMatchObject({
    seconds: 3,
    connections: 4,
    chains: 20,
    databases: ['embedded'],
    paths: ['FHIR read', 'front layers'],
  });
  expect(readOptions([], { DATABASE_URL: 'postgres://db' })).toMatchObject({ databases: ['embedded', 'postgres'], databaseUrl: 'postgres://db' });
});

test('an unknown option, a stray argument or a bad value is refused, naming what is accepted', () => {
  expect(() => readOptions(['--second', '3'], {})).toThrow('unknown option --second (options are --seconds, --connections');
  expect(() => readOptions(['3'], {})).toThrow('unexpected argument "3"');
  expect(() => readOptions(['--seconds', 'soon'], {})).toThrow('--seconds must be a number ≥ 0.5, not "soon"');
  expect(() => readOptions(['--db', 'postgres'], {})).toThrow('measuring PostgreSQL needs DATABASE_URL');
});
