/**
 * SQL for FHIR resources: one row per resource (current version) with its record, as JSONB.
 */
import type { Knex } from 'knex';

export type ResourceRow = {
  type: string;
  id: string;
  record_id: string;
  version_id: number;
  last_updated: Date;
  content: Record<string, unknown>;
};

export async function insertResource(db: Knex | Knex.Transaction, row: ResourceRow): Promise<void> {
  await db('resources').insert(row);
}
