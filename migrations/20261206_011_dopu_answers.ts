/**
 * DOPU answers judged one at a time, and package keys with a server-held pepper (a
 * package locks after 3 wrong answers).
 * - `judging_until`: while set and in the future, one answer to the package is being judged and
 *   every other waits; the attempt was counted in `wrong_answers` when it was taken (a right answer
 *   gives it back), so concurrent guesses can never be judged beyond the third wrong one.
 * - `key_version`: how the package key was derived. 1: argon2id of the answer and the salt alone
 *   (every package sealed before this migration, and the default for a writer that does not say);
 *   2: argon2id with the server's pepper as its secret input, so the table alone cannot be used to
 *   try answers offline. Existing packages keep version 1 until they are picked up or end (at
 *   most 28 days): their key cannot be re-derived without their answer.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('dopu_packages', (t) => {
    t.timestamp('judging_until', { useTz: true });
    t.smallint('key_version').notNullable().defaultTo(1);
  });
  await knex.raw(`alter table dopu_packages add constraint dopu_packages_key_version check (key_version in (1, 2))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table dopu_packages drop constraint if exists dopu_packages_key_version');
  await knex.schema.alterTable('dopu_packages', (t) => {
    t.dropColumn('judging_until');
    t.dropColumn('key_version');
  });
}
