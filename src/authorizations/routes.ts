/**
 * `/apps`: for each of the person's records, the apps that can reach it — granted rules in words,
 * online or offline, when authorized and last used — with a switch to turn off each optional rule
 * and offline access, and **Remove access**, which asks first (`/apps/<id>/remove`). Every form
 * answers 303 to `/apps` with what happened in the query (ids, never words), and the page says it
 * only while it is still true, so a reload or Back never repeats or contradicts anything.
 */
import express, { type Request } from 'express';
import { z } from 'zod';
import type { Person } from '../accounts/person';
import { allows } from '../records/access';
import { Invalid, NotFound } from '../errors';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import type { RecordService } from '../records/service';
import { ACCESS_WORDS, describeScope } from '../rules/scopes';
import type { Csrf } from '../security/csrf';
import { capitalize } from '../text';
import type { AuthorizationService, AuthorizationSummary } from './service';

type Deps = { records: RecordService; authorizations: AuthorizationService; csrf: Csrf };

const id = z.uuid();
/** What `/apps` was sent back with after a form: which authorization, and which rule was turned off. */
const doneQuery = z.union([z.object({ removed: id }), z.object({ trimmed: id, rule: z.string().min(1).max(200) })]);
const trimForm = z.object({ rule: z.string().trim().min(1, 'Choose what to turn off.').max(200) });

/** How a switched-off rule is named in a sentence: offline access by that name, a record rule by its words. */
function ruleName(scope: string): string {
  return scope === 'offline_access' ? 'offline access' : `“${describeScope(scope)}”`;
}

export function authorizationRoutes({ records, authorizations, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  /** The name of a record the person holds, as the pages say it ("Pat Quinn's record"). */
  const recordName = async (person: Person, recordId: string) => (await records.recordsOf(person.id)).find((record) => record.id === recordId)?.name ?? 'this';

  /** The sentence about what the last form did, when it still describes how things are. */
  const noticeOf = async (req: Request, person: Person): Promise<string | undefined> => {
    const done = doneQuery.safeParse(req.query);
    if (!done.success) return undefined;
    let app: AuthorizationSummary;
    try {
      app = await authorizations.summary('removed' in done.data ? done.data.removed : done.data.trimmed, person);
    } catch (error) {
      if (error instanceof NotFound) return undefined;
      throw error;
    }
    if ('removed' in done.data) return app.reachesRecord ? undefined : `${app.name} can no longer reach ${await recordName(person, app.recordId)}'s record.`;
    const { rule } = done.data;
    const stillOn = rule === 'offline_access' ? app.access === 'offline' : app.rules.includes(rule);
    if (!app.live || stillOn) return undefined;
    return `You turned off ${ruleName(rule)} for ${app.name}.`;
  };

  router.get('/apps', requirePerson, csrf.issue, async (req, res) => {
    const person = signedInPerson(res);
    const held = await records.recordsOf(person.id);
    const apps = await authorizations.connectedApps(held.map((record) => record.id));
    const byRecord = held.map((record) => ({
      record,
      apps: apps
        .filter((app) => app.recordId === record.id)
        .map((app) => {
          const { words, short } = ACCESS_WORDS[app.access];
          return {
            ...app,
            rules: app.rules.map((rule) => ({ ...rule, words: describeScope(rule.scope, app.name) })),
            offline: app.access === 'offline' ? { words: capitalize(describeScope('offline_access')), required: app.offlineRequired } : undefined,
            access: `${capitalize(words)}${short ? ` (${short})` : ''}`,
            // Who allowed it, on a record others hold too; only they, or someone who may share the record, change it.
            authorizedBy: app.authorizedBy.id === person.id ? 'you' : app.authorizedBy.name,
            mayChange: app.authorizedBy.id === person.id || allows(record.access, 'share'),
          };
        }),
    }));
    await sendPage(res, 200, 'apps/list', { title: 'Connected apps', byRecord, notice: await noticeOf(req, person) });
  });

  router.get('/apps/:id/remove', requirePerson, csrf.issue, async (req, res) => {
    const person = signedInPerson(res);
    const app = await authorizations.summary(String(req.params.id), person);
    if (!app.live) return res.redirect(303, `/apps?removed=${app.id}`);
    await sendPage(res, 200, 'apps/remove', {
      title: `Remove ${app.name}'s access?`,
      app: { ...app, rules: app.rules.map((scope) => describeScope(scope, app.name)) },
      recordName: await recordName(person, app.recordId),
    });
  });

  router.post('/apps/:id/remove', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const authorizationId = String(req.params.id);
    await authorizations.remove(authorizationId, signedInPerson(res));
    res.redirect(303, `/apps?removed=${authorizationId}`);
  });

  router.post('/apps/:id/rules', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const parsed = trimForm.safeParse(req.body);
    if (!parsed.success) throw new Invalid(firstMessage(parsed.error));
    const { rule } = parsed.data;
    const authorizationId = String(req.params.id);
    await authorizations.trim(authorizationId, rule, signedInPerson(res));
    res.redirect(303, `/apps?${new URLSearchParams({ trimmed: authorizationId, rule })}`);
  });

  return router;
}
