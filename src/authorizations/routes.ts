/**
 * `/apps`: for each of the person's records, the apps that can reach it — granted rules in words,
 * online or offline, when authorized and last used — and **Remove access**.
 */
import express from 'express';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import type { RecordService } from '../records/service';
import { ACCESS_WORDS, describeScope } from '../rules/scopes';
import type { Csrf } from '../security/csrf';
import { capitalize } from '../text';
import type { AuthorizationService } from './service';

type Deps = { records: RecordService; authorizations: AuthorizationService; csrf: Csrf };

export function authorizationRoutes({ records, authorizations, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  router.get('/apps', requirePerson, csrf.issue, async (_req, res) => {
    const person = signedInPerson(res);
    const held = await records.recordsOf(person.id);
    const apps = await authorizations.connectedApps(held.map((record) => record.id));
    const byRecord = held.map((record) => ({
      record,
      apps: apps
        .filter((app) => app.recordId === record.id)
        .map((app) => {
          const { words, short } = ACCESS_WORDS[app.access];
          return { ...app, rules: app.rules.map(describeScope), access: `${capitalize(words)}${short ? ` (${short})` : ''}` };
        }),
    }));
    await sendPage(res, 200, 'apps/list', { title: 'Connected apps', byRecord });
  });

  router.post('/apps/:id/remove', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    await authorizations.remove(String(req.params.id), signedInPerson(res));
    res.redirect(303, '/apps');
  });

  return router;
}
