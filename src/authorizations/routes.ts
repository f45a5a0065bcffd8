/**
 * `/apps`: for each of the person's records, the apps that can reach it — granted rules in words,
 * online or offline, when authorized and last used — and **Remove access**.
 */
import express from 'express';
import type { AccountService, Person } from '../accounts/service';
import { NotFound } from '../http/errors';
import { isUuid } from '../http/params';
import { sendPage } from '../http/render';
import { requirePerson } from '../http/require-person';
import { describeScope } from '../rules/scopes';
import type { Csrf } from '../security/csrf';
import { rulesIn, type AuthorizationService } from './service';

type Deps = { accounts: AccountService; authorizations: AuthorizationService; csrf: Csrf };

const ACCESS_WORDS = {
  offline: 'Also while you are away (offline)',
  online: 'Only while you are signed in (online)',
  none: 'Only right after you sign in',
} as const;

export function authorizationRoutes({ accounts, authorizations, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  router.get('/apps', requirePerson, csrf.issue, async (_req, res) => {
    const person = res.locals.person as Person;
    const records = await accounts.recordsOf(person.id);
    const apps = await authorizations.connectedApps(records.map((record) => record.id));
    const byRecord = records.map((record) => ({
      record,
      apps: apps
        .filter((app) => app.record_id === record.id)
        .map((app) => ({
          id: app.id,
          name: app.client_name ?? app.client_id,
          rules: rulesIn(app.scope)
            .filter((scope) => scope !== 'offline_access' && scope !== 'online_access')
            .map(describeScope),
          access: ACCESS_WORDS[app.access],
          authorizedAt: app.created_at,
          lastUsedAt: app.last_used_at,
        })),
    }));
    await sendPage(res, 200, 'apps/list', { title: 'Connected apps', byRecord });
  });

  router.post('/apps/:id/remove', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const person = res.locals.person as Person;
    const id = String(req.params.id);
    if (!isUuid(id)) throw new NotFound('That app no longer has access to this record.');
    await authorizations.remove(id, person, (recordId) => accounts.isCustodian(person.id, recordId));
    res.redirect(303, '/apps');
  });

  return router;
}
