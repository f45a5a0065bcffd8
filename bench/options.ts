/**
 * The bench's options, from the command line (`npm run bench -- --seconds 10`) or the environment
 * (BENCH_SECONDS=10): how long each measurement lasts, how many connections, which databases, how
 * many refresh chains, and whether to bulk-seed a million rows first (p99 from an empty
 * database to 1 million tokens and resources).
 */
export type BenchDatabase = 'embedded' | 'postgres';

export type BenchOptions = {
  /** Seconds each measurement lasts (a warm-up of a fifth of it, at most 2 s, comes first). */
  seconds: number;
  /** autocannon connections for the single-request paths. */
  connections: number;
  /** Independent refresh chains (each a person who authorized the app). */
  chains: number;
  /** Concurrent browsers walking sign-in → consent → code exchange. */
  flows: number;
  /**
   * Rows of each kind (access tokens, resources) added in bulk before the measurements; the lookups
   * (client_credentials, introspection, FHIR read and search) are also measured before them, and
   * the report compares each one's p99 (within 1.5×). 0 for none.
   */
  bulk: number;
  databases: BenchDatabase[];
  /** postgres://… of a server on which the bench creates (and drops) a scratch database. */
  databaseUrl: string | undefined;
  /** Only these paths (names as in the table, comma-separated), e.g. to profile one. */
  paths: string[] | undefined;
  /** Where to write the JSON document as well as printing it. */
  jsonFile: string | undefined;
};

/** What `npm run bench -- --help` prints: every option, each also an environment variable (BENCH_<NAME>). */
export const USAGE = `npm run bench -- [options]   (each option is also an environment variable: --seconds 10 or BENCH_SECONDS=10)

  --seconds N       how long each measurement lasts (default 5; a warm-up of a fifth of it, at most 2 s, comes first)
  --connections N   concurrent connections for the single-request paths (default 20)
  --chains N        independent refresh chains, one person each (default 20)
  --flows N         concurrent browsers walking sign-in → consent → code (default 4)
  --bulk N          rows of each kind (refresh tokens, resources) added before the lookups are measured again (default 0)
  --db WHICH        embedded, postgres or both (default: both when DATABASE_URL is set, else embedded)
  --paths A,B       only these paths, named as in the table (e.g. "FHIR read,front layers")
  --json FILE       also write the JSON document to FILE
  --help            print this and exit
`;

const OPTIONS = new Set(['seconds', 'connections', 'chains', 'flows', 'bulk', 'db', 'paths', 'json']);

function positive(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, not "${text}"`);
  return value;
}

/** The options `argv` and `env` give, or `help` when `--help` was asked for; an unknown option is an error naming the known ones. */
export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const known = [...OPTIONS].map((name) => `--${name}`).join(', ');
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}" (options are ${known}; --help says what each does)`);
    const [key = '', inline] = arg.slice(2).split('=', 2);
    if (!OPTIONS.has(key)) throw new Error(`unknown option --${key} (options are ${known}; --help says what each does)`);
    args.set(key, inline ?? argv[(i += 1)] ?? '');
  }
  const pick = (key: string) => args.get(key) ?? env[`BENCH_${key.toUpperCase()}`];
  const databaseUrl = env.DATABASE_URL || undefined;
  const db = pick('db') ?? (databaseUrl ? 'both' : 'embedded');
  const databases: BenchDatabase[] = db === 'both' ? ['embedded', 'postgres'] : db === 'embedded' || db === 'postgres' ? [db] : [];
  if (databases.length === 0) throw new Error(`--db must be embedded, postgres or both, not "${db}"`);
  if (databases.includes('postgres') && !databaseUrl)
    throw new Error('measuring PostgreSQL needs DATABASE_URL (a server where the bench may create a scratch database)');
  return {
    seconds: positive('--seconds', pick('seconds'), 5, 0.5),
    connections: positive('--connections', pick('connections'), 20),
    chains: positive('--chains', pick('chains'), 20),
    flows: positive('--flows', pick('flows'), 4),
    bulk: positive('--bulk', pick('bulk'), 0, 0),
    databases,
    databaseUrl,
    paths: pick('paths') ? (pick('paths') ?? '').split(',').map((item) => item.trim()) : undefined,
    jsonFile: pick('json') || undefined,
  };
}
