/**
 * The consent page: the app, its rules with their reasons (required ones fixed, optional ones
 * unticked), and the records to choose from. With several records none is chosen: the page asks, it
 * does not assume. A rule beyond the person's level on the chosen record (View only) is shown as not
 * possible, never offered.
 */
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { AuthorizationService } from '../authorizations/service';
import { sendPage } from '../http/render';
import { LEVEL_WORDS, levelGrants } from '../records/access';
import type { RecordService } from '../records/service';
import { describeScopeFor, splitScopes } from '../rules/scopes';
import { allowImageFrom } from '../security/image-sources';
import { blockedByLevel, consentQuery, MISSING_RECORD } from './consent';
import type { PendingInteraction } from './pending';
import type { InteractionSteps } from './steps';

type Deps = { steps: InteractionSteps; records: RecordService; authorizations: AuthorizationService };

/** Shows the consent page (with a refusal of the form that came back, if any). */
export type ShowConsent = (req: Request, res: Response, pending: PendingInteraction, refusal?: { status: number; error: string }) => Promise<void>;

export function consentPage({ steps, records, authorizations }: Deps): ShowConsent {
  const { base } = steps;
  /**
   * The consent page. Optional rules start unticked and, with several records, none is chosen: the
   * page asks, it does not assume. What the person chose last time for a record is said, and applied
   * only when they ask for it (`?use=<record>`); `?missing=record` brings back the ticks of an Allow
   * that came without a record, with why it was not taken.
   */
  return async (req: Request, res: Response, pending: PendingInteraction, refusal?: { status: number; error: string }): Promise<void> => {
    const held = await records.recordsOf(pending.accountId ?? '');
    const shown = consentQuery.safeParse(req.query);
    const query: Partial<z.infer<typeof consentQuery>> = shown.success ? shown.data : {};
    const earlier = await authorizations.findForRecords(
      pending.clientId,
      held.map((record) => record.id),
      pending.accountId ?? '',
    );
    const optional = pending.rules.filter((rule) => !rule.required);
    const lastTime = earlier
      .map((row) => {
        const record = held.find((item) => item.id === row.record_id);
        const granted = new Set(splitScopes(row.scope));
        const allowed = optional.filter((rule) => granted.has(rule.scope));
        return record && optional.length ? { record, allowed: allowed.map((rule) => rule.scope), href: `${base(pending)}?use=${record.id}` } : undefined;
      })
      .filter((item) => item !== undefined);
    const used = lastTime.find((item) => item.record.id === query.use);
    const chosen = held.length === 1 ? held[0]?.id : (used?.record.id ?? held.find((record) => record.id === query.record)?.id);
    const ticked = new Set(used ? used.allowed : (query.rules ?? []));
    const chosenLevel = held.find((record) => record.id === chosen)?.access;
    const { logo, policy, terms } = pending.clientLinks;
    await sendPage(res, refusal?.status ?? (query.missing ? 400 : 200), 'interactions/consent', {
      title: `Connect ${pending.clientName}`,
      clientName: pending.clientName,
      logo: allowImageFrom(res, logo) ? logo : undefined,
      policy,
      terms,
      action: `${base(pending)}/consent`,
      rules: pending.rules.map((rule) => ({
        ...rule,
        checked: (rule.required || ticked.has(rule.scope)) && (!chosenLevel || levelGrants(chosenLevel, rule.scope)),
        // Beyond the person's level on the chosen record (View only): shown, never offered.
        notPossible: chosenLevel !== undefined && !levelGrants(chosenLevel, rule.scope),
        // For each record, whether the person's level there keeps this rule out (said when that record is chosen).
        limitedFor: held.map((record) => !levelGrants(record.access, rule.scope)),
        // The rule in words for each record it could reach, and before a record is chosen.
        unchosen: describeScopeFor(rule.scope, 'the chosen record', pending.clientName),
        perRecord: held.map((record) => describeScopeFor(rule.scope, record.name, pending.clientName)),
      })),
      lastTime: lastTime.map((item) => ({
        name: item.record.name,
        allowed: optional.filter((rule) => item.allowed.includes(rule.scope)).map((rule) => describeScopeFor(rule.scope, item.record.name, pending.clientName)),
        declined: optional
          .filter((rule) => !item.allowed.includes(rule.scope))
          .map((rule) => describeScopeFor(rule.scope, item.record.name, pending.clientName)),
        href: item.href,
        applied: item === used,
      })),
      identity: pending.identity,
      records: held.map((record) => ({ ...record, accessWords: record.access === 'custodian' ? undefined : LEVEL_WORDS[record.access] })),
      selectedRecord: chosen,
      blocked: blockedByLevel(pending.rules, chosenLevel),
      error: refusal?.error ?? (query.missing ? MISSING_RECORD : undefined),
    });
  };
}
