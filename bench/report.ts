/**
 * The bench's output: one row per path and database with carevault's figures, its reference's
 * from the same run and the ratio, checked against the targets below; printed as a table and as
 * one JSON document (the shape test/integration/bench.test.ts checks).
 */
import type { BenchDatabase } from './options';
import type { Measurement } from './load';
import type { NotificationLag } from './notifications';

/** With the measured process's resident memory (carevault only) and CPU ms per request. */
export type Figures = Measurement & { rssMb?: number; cpuMsPerRequest?: number };

/**
 * What a path must reach: a ratio to its reference (and, where given, `databaseValue`, a ratio to
 * bare oidc-provider on the same PostgreSQL), or a rate; `met` when it did.
 */
type Target = { kind: 'ratio' | 'perSecond'; value: number; databaseValue?: number; met: boolean };

export type Row = {
  database: BenchDatabase;
  path: string;
  carevault: Figures;
  reference: (Figures & { name: string }) | null;
  /** carevault's requests/s over the reference's, or null without a reference. */
  ratio: number | null;
  /** The token endpoint's second reference: bare oidc-provider on the same PostgreSQL, or null where not measured. */
  databaseReference: (Figures & { name: string }) | null;
  /** carevault's requests/s over the database-backed reference's, or null without it. */
  databaseRatio: number | null;
  target: Target | null;
};

/** A path's p99 with the bulk rows over its p99 on the database without them (target ≤ 1.5×). */
export type P99Growth = { path: string; emptyP99: number; bulkP99: number; ratio: number; target: number; met: boolean };

const P99_GROWTH_TARGET = 1.5;

export function growth(path: string, emptyP99: number, bulkP99: number): P99Growth {
  const ratio = emptyP99 > 0 ? bulkP99 / emptyP99 : Number.POSITIVE_INFINITY;
  return { path, emptyP99, bulkP99, ratio, target: P99_GROWTH_TARGET, met: ratio <= P99_GROWTH_TARGET };
}

/** carevault's front layers as bench/reference-front.ts names them (its command line). */
export const FRONT_LAYERS = ['log', 'metrics', 'headers', 'no-store'] as const;
export type FrontLayer = (typeof FRONT_LAYERS)[number];

/** The `--paths` name of the front layers' measurement. */
export const FRONT_ROW = 'front layers';

/** A trivial answer behind sets of carevault's front layers (none: a bare Node HTTP server). */
export type FrontReport = { path: string; sets: { layers: string[]; perSecond: number; errors: number; cpuMsPerRequest: number }[] };

export type BenchReport = {
  startedAt: string;
  seconds: number;
  machine: { cpus: number; loadAverage: number[]; node: string };
  options: { seconds: number; connections: number; chains: number; flows: number; bulk: number };
  databases: {
    database: BenchDatabase;
    rssMaxMb: number;
    rssTargetMb: number;
    rssMet: boolean;
    rows: Row[];
    p99Growth: P99Growth[];
    /** Change notifications of the FHIR create load's writes; null when that path was not measured. */
    notificationLag: NotificationLag | null;
    /** Why bare oidc-provider on PostgreSQL was not measured on this database, if it was not. */
    databaseReferenceSkipped: string | undefined;
  }[];
  /** What carevault's front layers cost per request, on no database (absent when not measured). */
  front?: FrontReport;
};

/** The targets: ratios on PostgreSQL to the in-memory reference and to bare oidc-provider on the same database (and one on the embedded database). */
const TARGETS: Record<BenchDatabase, Record<string, Omit<Target, 'met'>>> = {
  postgres: {
    client_credentials: { kind: 'ratio', value: 0.6, databaseValue: 1.0 },
    introspection: { kind: 'ratio', value: 0.6, databaseValue: 1.0 },
    'FHIR read': { kind: 'ratio', value: 0.8 },
    'FHIR search (20)': { kind: 'ratio', value: 0.5 },
    'FHIR create': { kind: 'ratio', value: 0.5 },
    'refresh (rotating)': { kind: 'ratio', value: 0.6 },
  },
  embedded: {
    client_credentials: { kind: 'ratio', value: 0.5 },
  },
};

/** Resident memory under load, at most: the embedded database lives in carevault's own process. */
export const RSS_TARGET_MB: Readonly<Record<BenchDatabase, number>> = { postgres: 250, embedded: 400 };

export function row(
  database: BenchDatabase,
  path: string,
  carevault: Figures,
  reference: (Figures & { name: string }) | null,
  databaseReference: (Figures & { name: string }) | null = null,
): Row {
  const over = (of: Figures | null) => (of && of.perSecond > 0 ? carevault.perSecond / of.perSecond : null);
  const ratio = over(reference);
  const databaseRatio = over(databaseReference);
  const wanted = TARGETS[database][path];
  const reached = (value: number | null, wantedValue: number | undefined) => wantedValue === undefined || (value !== null && value >= wantedValue);
  const target = wanted
    ? {
        ...wanted,
        met: wanted.kind === 'ratio' ? reached(ratio, wanted.value) && reached(databaseRatio, wanted.databaseValue) : carevault.perSecond >= wanted.value,
      }
    : null;
  return { database, path, carevault, reference, ratio, databaseReference, databaseRatio, target };
}

const n0 = (value: number) => Math.round(value).toLocaleString('en-US');
const cpu = (figures: Figures) => (figures.cpuMsPerRequest === undefined ? '—' : figures.cpuMsPerRequest.toFixed(2));
const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));

export function table(report: BenchReport): string {
  const lines: string[] = [];
  lines.push(
    `carevault bench, ${report.options.seconds} s per measurement, ${report.options.connections} connections, ${report.options.chains} refresh chains, ` +
      `${report.machine.cpus} CPUs, load ${report.machine.loadAverage.map((l) => l.toFixed(1)).join(' ')} at the start, ${report.options.bulk.toLocaleString('en-US')} bulk rows`,
  );
  lines.push('');
  lines.push(
    '| database | path | carevault /s | p50 ms | p99 ms | errors | CPU ms/req | reference | reference /s | its CPU ms/req | ratio | target | bare oidc-provider on PostgreSQL /s | its CPU ms/req | ratio to it |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|');
  for (const db of report.databases) {
    for (const r of db.rows) {
      const target = r.target
        ? `${r.target.kind === 'ratio' ? `≥ ${r.target.value}×` : `≥ ${n0(r.target.value)} /s`}${r.target.databaseValue === undefined ? '' : ` and ≥ ${r.target.databaseValue}× on PostgreSQL`} ${r.target.met ? 'met' : '**missed**'}`
        : '';
      lines.push(
        `| ${r.database} | ${r.path} | ${n0(r.carevault.perSecond)} | ${ms(r.carevault.p50)} | ${ms(r.carevault.p99)} | ${r.carevault.errors} | ${cpu(r.carevault)} | ` +
          `${r.reference?.name ?? '—'} | ${r.reference ? n0(r.reference.perSecond) : '—'} | ${r.reference ? cpu(r.reference) : '—'} | ` +
          `${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${target} | ` +
          `${r.databaseReference ? n0(r.databaseReference.perSecond) : '—'} | ${r.databaseReference ? cpu(r.databaseReference) : '—'} | ${r.databaseRatio === null ? '—' : r.databaseRatio.toFixed(2)} |`,
      );
    }
    lines.push(
      `| ${db.database} | resident memory under load (max) | ${db.rssMaxMb.toFixed(0)} MB | | | | | | | | | ≤ ${db.rssTargetMb} MB ${db.rssMet ? 'met' : '**missed**'} | | | |`,
    );
    const lag = db.notificationLag;
    if (lag) {
      const drained = lag.drainedInSeconds === null ? 'not drained in 120 s' : `drained ${lag.drainedInSeconds.toFixed(1)} s after the load`;
      lines.push(
        `| ${db.database} | notification lag during FHIR create (${n0(lag.events)} events) | | ${ms(lag.p50Ms)} | ${ms(lag.p99Ms)} | | | ${drained} | | | | |`,
      );
    }
    for (const g of db.p99Growth) {
      lines.push(
        `| ${db.database} | ${g.path}: p99 with ${report.options.bulk.toLocaleString('en-US')} bulk rows | | | ${ms(g.bulkP99)} | | | the same path before them: p99 ${ms(g.emptyP99)} ms | | | ${g.ratio.toFixed(2)} | ≤ ${g.target}× ${g.met ? 'met' : '**missed**'} | | | |`,
      );
    }
  }
  if (report.front) {
    const bare = report.front.sets.find((set) => set.layers.length === 0);
    lines.push('');
    lines.push(`| front layers before a trivial answer (GET ${report.front.path}) | /s | errors | CPU ms/req | added CPU ms/req over the bare server |`);
    lines.push('|---|---:|---:|---:|---:|');
    for (const set of report.front.sets) {
      // Within a microsecond of the bare server reads as 0.000, not -0.000.
      const added = bare && set !== bare ? (Math.round((set.cpuMsPerRequest - bare.cpuMsPerRequest) * 1000) / 1000 || 0).toFixed(3) : '—';
      lines.push(
        `| ${set.layers.length === 0 ? 'none (bare Node HTTP server)' : set.layers.join(' + ')} | ${n0(set.perSecond)} | ${set.errors} | ${set.cpuMsPerRequest.toFixed(3)} | ${added} |`,
      );
    }
  }
  const skipped = report.databases.flatMap((db) => (db.databaseReferenceSkipped ? [`${db.database}: ${db.databaseReferenceSkipped}.`] : []));
  return [...lines, ...(skipped.length > 0 ? ['', ...skipped] : [])].join('\n');
}
