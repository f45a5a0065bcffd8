/**
 * The migrations, imported statically so the same list runs from TypeScript (tests) and from the
 * compiled build, with no directory scanning.
 */
import type { Knex } from 'knex';
import * as foundation from './20261128_001_foundation';
import * as authorizations from './20261128_002_authorizations';
import * as fhirSearch from './20261128_003_fhir_search';
import * as recordOwners from './20261129_004_record_owners';
import * as auditSubjects from './20261129_005_audit_subjects';
import * as dopuPackages from './20261130_006_dopu_packages';
import * as connectRequests from './20261130_007_connect_requests';
import * as directMessages from './20261130_008_direct_messages';
import * as resourceVersions from './20261130_009_resource_versions';
import * as hashedCredentials from './20261206_010_hashed_credentials';
import * as dopuAnswers from './20261206_011_dopu_answers';
import * as connectResume from './20261206_020_connect_resume';
import * as interactionTraces from './20261206_030_interaction_traces';
import * as dopuPickupSteps from './20261206_040_dopu_pickup_steps';
import * as directUndoAndSent from './20261206_041_direct_undo_and_sent';
import * as personVisits from './20261206_060_person_visits';
import * as accountLinks from './20261206_070_account_links';
import * as accountDevices from './20261206_080_account_devices';
import * as twoStep from './20261206_090_two_step';
import * as auditErasure from './20261206_095_audit_erasure';
import * as messageMail from './20261206_100_message_mail';
import * as passkeys from './20261207_010_passkeys';
import * as recordSharing from './20261207_020_record_sharing';
import * as registrationMail from './20261207_050_registration_mail';
import * as subscriptions from './20261207_060_subscriptions';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

const migrations: ReadonlyArray<[string, Migration]> = [
  ['20261128_001_foundation', foundation],
  ['20261128_002_authorizations', authorizations],
  ['20261128_003_fhir_search', fhirSearch],
  ['20261129_004_record_owners', recordOwners],
  ['20261129_005_audit_subjects', auditSubjects],
  ['20261130_006_dopu_packages', dopuPackages],
  ['20261130_007_connect_requests', connectRequests],
  ['20261130_008_direct_messages', directMessages],
  ['20261130_009_resource_versions', resourceVersions],
  ['20261206_010_hashed_credentials', hashedCredentials],
  ['20261206_011_dopu_answers', dopuAnswers],
  ['20261206_020_connect_resume', connectResume],
  ['20261206_030_interaction_traces', interactionTraces],
  ['20261206_040_dopu_pickup_steps', dopuPickupSteps],
  ['20261206_041_direct_undo_and_sent', directUndoAndSent],
  ['20261206_060_person_visits', personVisits],
  ['20261206_070_account_links', accountLinks],
  ['20261206_080_account_devices', accountDevices],
  ['20261206_090_two_step', twoStep],
  ['20261206_095_audit_erasure', auditErasure],
  ['20261206_100_message_mail', messageMail],
  ['20261207_010_passkeys', passkeys],
  ['20261207_020_record_sharing', recordSharing],
  ['20261207_050_registration_mail', registrationMail],
  ['20261207_060_subscriptions', subscriptions],
];

export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => [...migrations],
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
