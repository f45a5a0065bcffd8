/**
 * DOPU for the app: drop off a package for a person the app met,
 * follow its status, withdraw it; and the expiry every reader and the sweeper apply. The app gets
 * a pickup code to hand over and never anything of the record the package goes into. Pickup emails
 * carry app-chosen words to any address, so each app may have only so many sent an hour.
 */
import { randomUUID } from 'node:crypto';
import type { Position } from '../api/paging';
import type { AppNames } from '../apps/names';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Conflict, NotFound } from '../errors';
import { isUuid } from '../ids';
import { log } from '../log';
import { UNUSED_DAYS, daysAfter } from '../rules/healthvault';
import type { Rate } from '../security/limiters';
import { formatPickupCode, hashPickupCode, newPickupCode } from './codes';
import { checkContents, type PackageResource } from './contents';
import type { Mailer } from '../mail';
import { dayOf } from './review';
import type { DropOffBody, DropOffReceipt, PackageStatus, PackageStatusView } from './schemas';
import { newSalt, seal, type PackageKeys } from './sealing';
import { createPackageStore, type PackageFacts } from './store';

export type DopuDeps = {
  db: Database;
  audit: AuditLog;
  mailer: Mailer;
  keys: PackageKeys;
  /** Drop-offs with `email` per app. */
  emails: Rate;
  appNames: AppNames;
  issuer: string;
  /** The time every expiry is judged by (a test moves packages, not the clock). */
  clock(): Date;
};

function viewOf(facts: PackageFacts): PackageStatusView {
  return {
    id: facts.id,
    external_id: facts.external_id,
    status: facts.status,
    created_at: facts.created_at.toISOString(),
    expires_at: facts.expires_at.toISOString(),
    updated_at: facts.updated_at.toISOString(),
    ...(facts.picked_up_at ? { picked_up_at: facts.picked_up_at.toISOString() } : {}),
  };
}

function typesOf(resources: readonly PackageResource[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of resources) counts[resource.resourceType] = (counts[resource.resourceType] ?? 0) + 1;
  return counts;
}

export function createDopuService({ db, audit, mailer, keys, emails: emailRate, appNames, issuer, clock }: DopuDeps) {
  const store = createPackageStore(db);

  /** Marks due packages expired (contents deleted), each with its audit event, in one transaction. */
  const expireDue = (only: { clientId?: string; id?: string } = {}) =>
    db.transaction(async () => {
      const expired = await store.expireDue(clock(), only);
      for (const facts of expired) {
        await audit.append({ subject: `package:${facts.id}`, kind: 'dopu.expired', clientId: facts.client_id, details: { count: facts.resource_count } });
      }
      return expired;
    });

  const emailPerson = async (to: string, clientId: string, friendlyName: string, url: string, code: string, expiresAt: Date) => {
    const sender = await appNames.name(clientId);
    await mailer.send({
      to,
      subject: `${sender} left health information for you: ${friendlyName}`,
      text: [
        `${sender} left health information for you at carevault: "${friendlyName}".`,
        '',
        `To pick it up, open this link, sign in or create an account, and answer the question ${sender} gave you:`,
        '',
        url,
        '',
        `Pickup code: ${code}`,
        '',
        `It can be picked up once, until ${dayOf(expiresAt)}. If you were not expecting it, you can ignore this message.`,
      ].join('\n'),
    });
  };

  return {
    expireDue,

    /**
     * Seals the resources under the answer and keeps the package for its days (UNUSED_DAYS). The email (if any)
     * goes after the commit; a failure to send is logged and the package stays.
     * @throws InvalidResource naming the first resource problem; TooManyAttempts, before anything
     * is stored, when the app asks for more pickup emails than its hourly share.
     */
    async dropOff(clientId: string, body: DropOffBody): Promise<DropOffReceipt> {
      const resources = checkContents(body.resources);
      if (body.email) await emailRate.consume(clientId);
      const id = randomUUID();
      const code = newPickupCode();
      const salt = newSalt();
      const key = await keys.derive(body.answer, salt, keys.current);
      const createdAt = clock();
      const expiresAt = daysAfter(createdAt, UNUSED_DAYS);
      await db.transaction(async () => {
        await store.insert({
          id,
          client_id: clientId,
          external_id: body.external_id ?? null,
          friendly_name: body.friendly_name,
          question: body.question,
          code_hash: hashPickupCode(code),
          salt,
          key_version: keys.current,
          sealed: seal(Buffer.from(JSON.stringify(resources)), key, id),
          resource_count: resources.length,
          created_at: createdAt,
          expires_at: expiresAt,
          updated_at: createdAt,
        });
        await audit.append({ subject: `package:${id}`, kind: 'dopu.dropped_off', clientId, details: { count: resources.length, types: typesOf(resources) } });
      });
      const shown = formatPickupCode(code);
      const url = `${issuer}/pickup?code=${shown}`;
      if (body.email) {
        await emailPerson(body.email, clientId, body.friendly_name, url, shown, expiresAt).catch((error: unknown) => {
          // The app has the code to hand over; the package must not be lost because mail failed.
          // Only the kind of failure is logged: a mail server's answer can quote the address.
          const { name, code: reason } = error as { name?: unknown; code?: unknown };
          log.warn('pickup email not sent', {
            package: id,
            error: typeof name === 'string' ? name : 'Error',
            code: typeof reason === 'string' ? reason : undefined,
          });
        });
      }
      return { id, pickup_code: shown, pickup_url: url, expires_at: expiresAt.toISOString() };
    },

    /** @throws NotFound for an id that is not one of this app's packages. */
    async status(clientId: string, id: string): Promise<PackageStatusView> {
      if (!isUuid(id)) throw new NotFound('This app has no package with this id.');
      await expireDue({ clientId, id });
      const facts = await store.factsOf(clientId, id);
      if (!facts) throw new NotFound('This app has no package with this id.');
      return viewOf(facts);
    },

    /** The app's packages, oldest change first, `limit` at a time, after `after`; `next` is where the page ended when more follow. */
    async list(
      clientId: string,
      filter: { status?: PackageStatus | undefined; since?: Date | undefined; after?: Position | undefined; limit: number },
    ): Promise<{ packages: PackageStatusView[]; next: Position | undefined }> {
      await expireDue({ clientId });
      const after = filter.after && { updatedAt: filter.after.at, id: filter.after.id };
      const rows = await store.list(clientId, { status: filter.status, since: filter.since, after, limit: filter.limit });
      const page = rows.slice(0, filter.limit);
      const last = page.at(-1);
      return { packages: page.map(viewOf), next: rows.length > filter.limit && last ? { at: last.updated_at, id: last.id } : undefined };
    },

    /**
     * Withdraws a pending package: its contents are deleted and its code tells the person so.
     * @throws NotFound (not this app's), Conflict (no longer pending).
     */
    async withdraw(clientId: string, id: string): Promise<PackageStatusView> {
      if (!isUuid(id)) throw new NotFound('This app has no package with this id.');
      return db.transaction(async () => {
        await db.lock(`package:${id}`);
        await expireDue({ clientId, id });
        const facts = await store.factsOf(clientId, id);
        if (!facts) throw new NotFound('This app has no package with this id.');
        if (facts.status !== 'pending') {
          throw new Conflict(`The package is ${facts.status.replace('_', ' ')}: only a pending package can be withdrawn.`, 'not_pending');
        }
        const ended = await store.end(id, 'withdrawn', clock());
        if (!ended) throw new Conflict('The package changed at the same time; read its status again.', 'not_pending');
        await audit.append({ subject: `package:${id}`, kind: 'dopu.withdrawn', clientId, details: { count: ended.resource_count } });
        return viewOf(ended);
      });
    },

    /** The sweep: expires due packages (which deletes their contents); returns how many. */
    async sweep(): Promise<number> {
      return (await expireDue()).length;
    },
  };
}

export type DopuService = ReturnType<typeof createDopuService>;
