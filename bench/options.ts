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

function positive(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, not "${text}"`);
  return value;
}

export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--'))
      throw new Error(`unexpected argument "${arg}" (options are --seconds, --connections, --chains, --flows, --bulk, --db, --paths, --json)`);
    const [key = '', inline] = arg.slice(2).split('=', 2);
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
