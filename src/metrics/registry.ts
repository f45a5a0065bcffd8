/**
 * The operator's Prometheus metrics (https://prometheus.io/docs/instrumenting/exposition_formats/),
 * kept by prom-client in a registry of this instance's own (tests run several instances in one
 * process). Counters and histograms move as requests happen; the gauges that describe stored state
 * (the database pool, and what features store, by status) are read from the database when
 * Prometheus scrapes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../db';
import type { StatusGauge } from '../feature';
import type { TokenObserver } from '../oidc/token-events';
import { setByStatus, setPool, storedStateReader } from './stored-state';

/** Seconds; from a cached discovery document to a search over many resources. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How a person answered an app: `web` consent pages, or the name of the feature on the device flow. */
export type ConsentFlow = string;
export type ConsentDecision = 'allowed' | 'denied';

export function createMetrics(db: Database) {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const tokensIssued = new Counter({
    name: 'carevault_tokens_issued_total',
    help: 'Token responses with tokens, by grant type (authorization_code, refresh_token, client_credentials, device_code).',
    labelNames: ['grant_type'] as const,
    registers,
  });
  const tokenErrors = new Counter({
    name: 'carevault_token_errors_total',
    help: 'Token requests refused, by grant type and OAuth error (authorization_pending is a device flow app still waiting).',
    labelNames: ['grant_type', 'error'] as const,
    registers,
  });
  const refreshes = new Counter({
    name: 'carevault_token_refreshes_total',
    help: 'Refresh token requests, by outcome (issued or refused).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const consents = new Counter({
    name: 'carevault_consents_total',
    help: 'Answers people gave apps, allowed or denied, by flow: web consent pages, or the option on the device flow by its name.',
    labelNames: ['flow', 'decision'] as const,
    registers,
  });
  const fhirRequests = new Counter({
    name: 'carevault_fhir_requests_total',
    help: 'FHIR API requests by resource type, interaction and HTTP status.',
    labelNames: ['resource_type', 'interaction', 'status'] as const,
    registers,
  });
  const fhirDuration = new Histogram({
    name: 'carevault_fhir_request_duration_seconds',
    help: 'FHIR API response time by interaction.',
    labelNames: ['interaction'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'carevault_http_request_duration_seconds',
    help: 'Response time of every HTTP request, by area (token, authorization, oauth, fhir, api, pages, static, operations), method and status class.',
    labelNames: ['area', 'method', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  // The stored-state gauges share one reading of the database per scrape.
  const watched: StatusGauge[] = [];
  const readState = storedStateReader(db, () => watched);
  new Gauge({
    name: 'carevault_database_up',
    help: '1 when the database answered this scrape, else 0.',
    registers,
    async collect() {
      this.set((await readState()).counts ? 1 : 0);
    },
  });
  new Gauge({
    name: 'carevault_db_pool_connections',
    help: 'Database pool connections by state (used, free, pending acquires, max).',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      setPool(this, (await readState()).pool);
    },
  });

  const tokens: TokenObserver = {
    issued(grantType) {
      tokensIssued.inc({ grant_type: grantType });
      if (grantType === 'refresh_token') refreshes.inc({ outcome: 'issued' });
    },
    refused(grantType, error) {
      tokenErrors.inc({ grant_type: grantType, error });
      if (grantType === 'refresh_token') refreshes.inc({ outcome: 'refused' });
    },
  };

  return {
    registry,
    tokens,
    /** Reports these gauges of stored things from now on, read with the others on each scrape. */
    watch(gauges: readonly StatusGauge[]): void {
      for (const gauge of gauges) {
        watched.push(gauge);
        new Gauge({
          name: gauge.name,
          help: gauge.help,
          labelNames: ['status'] as const,
          registers,
          async collect() {
            setByStatus(this, gauge, (await readState()).counts);
          },
        });
      }
    },
    consent(flow: ConsentFlow, decision: ConsentDecision): void {
      consents.inc({ flow, decision });
    },
    fhirRequest(labels: { resourceType: string; interaction: string; status: number }, seconds: number): void {
      fhirRequests.inc({ resource_type: labels.resourceType, interaction: labels.interaction, status: String(labels.status) });
      fhirDuration.observe({ interaction: labels.interaction }, seconds);
    },
    httpRequest(labels: { area: string; method: string; status: number }, seconds: number): void {
      httpDuration.observe({ area: labels.area, method: labels.method, status_class: `${Math.floor(labels.status / 100)}xx` }, seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
