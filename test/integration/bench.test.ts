/**
 * `npm run bench` keeps working: a short run on this test's database prints the table
 * and one JSON document with, for every path, requests/s, p50, p99, errors, the reference measured
 * in the same run and the ratio, and the server's resident memory. The figures' sizes are not
 * checked — this machine is shared — only that each path was really measured without errors.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { BenchReport } from '../../bench/report';

const ROOT = path.resolve(__dirname, '..', '..');

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

describe('npm run bench', () => {
  const database = process.env.DATABASE_URL ? 'postgres' : 'embedded';
  let stdout = '';

  beforeAll(async () => {
    const env = { ...process.env, NODE_OPTIONS: '' };
    await run('npx', ['tsc', '-p', 'tsconfig.bench.json'], env);
    ({ stdout } = await run(
      process.execPath,
      ['dist-bench/bench/run.js', '--seconds', '0.5', '--connections', '2', '--chains', '2', '--flows', '1', '--bulk', '500', '--db', database],
      env,
    ));
  }, 300_000);

  it('prints a table with a row per path and the memory line', () => {
    expect(stdout).toContain(
      '| database | path | carevault /s | p50 ms | p99 ms | errors | CPU ms/req | reference | reference /s | its CPU ms/req | ratio | target | bare oidc-provider on PostgreSQL /s | its CPU ms/req | ratio to it |',
    );
    for (const path of [
      'client_credentials',
      'introspection',
      'refresh (rotating)',
      'FHIR read',
      'FHIR search (20)',
      'FHIR create',
      'sign-in → consent → code',
    ]) {
      expect(stdout).toContain(`| ${database} | ${path} |`);
    }
    expect(stdout).toContain(`| ${database} | resident memory under load (max) |`);
    expect(stdout).toContain(`| ${database} | FHIR read: p99 with 500 bulk rows |`);
    expect(stdout).toMatch(new RegExp(`\\| ${database} \\| notification lag during FHIR create \\([\\d,]+ events\\) \\|`));
  });

  it('prints one JSON document with every figure, its reference and the ratio', () => {
    const report = JSON.parse(stdout.slice(stdout.indexOf('\n{') + 1)) as BenchReport;
    expect(report.options).toMatchObject({ seconds: 0.5, connections: 2, chains: 2, flows: 1, bulk: 500 });
    expect(report.databases.map((db) => db.database)).toEqual([database]);
    const [measured] = report.databases;
    expect(measured?.rssMaxMb).toBeGreaterThan(0);
    expect(measured?.rssTargetMb).toBe(database === 'postgres' ? 250 : 400);
    // Every write of the FHIR create load was notified, and the queue drained.
    expect(measured?.notificationLag).toEqual({
      events: expect.any(Number),
      p50Ms: expect.any(Number),
      p99Ms: expect.any(Number),
      drainedInSeconds: expect.any(Number),
    });
    expect(measured?.notificationLag?.events).toBeGreaterThan(0);
    const rows = new Map(measured?.rows.map((row) => [row.path, row]));
    expect([...rows.keys()].sort()).toEqual(
      ['FHIR create', 'FHIR read', 'FHIR search (20)', 'client_credentials', 'introspection', 'refresh (rotating)', 'sign-in → consent → code'].sort(),
    );
    for (const row of rows.values()) {
      expect(row.carevault).toEqual(
        expect.objectContaining({
          perSecond: expect.any(Number),
          p50: expect.any(Number),
          p99: expect.any(Number),
          errors: 0,
          cpuMsPerRequest: expect.any(Number),
          rssMb: expect.any(Number),
        }),
      );
      expect(row.carevault.perSecond).toBeGreaterThan(0);
      if (row.path === 'sign-in → consent → code') {
        expect(row.reference).toBeNull();
        expect(row.ratio).toBeNull();
      } else {
        expect(row.reference).toEqual(
          expect.objectContaining({ name: expect.any(String), perSecond: expect.any(Number), errors: 0, cpuMsPerRequest: expect.any(Number) }),
        );
        expect(row.ratio).toBeCloseTo(row.carevault.perSecond / (row.reference?.perSecond ?? 1), 6);
      }
    }
    expect(rows.get('client_credentials')?.reference?.name).toBe('bare oidc-provider');
    expect(rows.get('FHIR read')?.reference?.name).toBe('minimal handler');
    // The token endpoint's paths are also compared with bare oidc-provider on the same PostgreSQL;
    // on the embedded database the report says why that reference is missing.
    for (const [path, row] of rows) {
      const tokenEndpoint = ['client_credentials', 'introspection', 'refresh (rotating)'].includes(path);
      if (database === 'postgres' && tokenEndpoint) {
        expect(row.databaseReference).toEqual(
          expect.objectContaining({ name: 'bare oidc-provider on PostgreSQL', perSecond: expect.any(Number), errors: 0, cpuMsPerRequest: expect.any(Number) }),
        );
        expect(row.databaseReference?.perSecond).toBeGreaterThan(0);
        expect(row.databaseRatio).toBeCloseTo(row.carevault.perSecond / (row.databaseReference?.perSecond ?? 1), 6);
      } else {
        expect(row.databaseReference).toBeNull();
        expect(row.databaseRatio).toBeNull();
      }
    }
    if (database === 'postgres') expect(measured?.databaseReferenceSkipped).toBeUndefined();
    else expect(stdout).toContain(`embedded: ${measured?.databaseReferenceSkipped ?? 'a reason'}.`);
    expect(rows.get('client_credentials')?.target).toEqual(expect.objectContaining({ kind: 'ratio', met: expect.any(Boolean) }));
    if (database === 'postgres') {
      // The token endpoint's targets hold against both references: in memory, and on the same database.
      const credentials = rows.get('client_credentials');
      expect(credentials?.target).toMatchObject({ value: 0.6, databaseValue: 1 });
      expect(credentials?.target?.met).toBe((credentials?.ratio ?? 0) >= 0.6 && (credentials?.databaseRatio ?? 0) >= 1);
      expect(rows.get('refresh (rotating)')?.target).toMatchObject({ kind: 'ratio', value: 0.6 });
      expect(rows.get('FHIR create')?.target).toMatchObject({ kind: 'ratio', value: 0.5 });
    }
    // With bulk rows, each lookup's p99 after them is compared with its p99 before them.
    expect(measured?.p99Growth.map((g) => g.path).sort()).toEqual(['FHIR read', 'FHIR search (20)', 'client_credentials', 'introspection']);
    for (const g of measured?.p99Growth ?? []) {
      expect(g.emptyP99).toBeGreaterThan(0);
      expect(g.bulkP99).toBe(rows.get(g.path)?.carevault.p99);
      expect(g.ratio).toBeCloseTo(g.bulkP99 / g.emptyP99, 6);
      expect(g.met).toBe(g.ratio <= 1.5);
    }
  });
});
