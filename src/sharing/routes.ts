/**
 * The sharing pages: `/records/:id/sharing` (who has access, pending invitations with **Withdraw**,
 * **Send invitation**; a person's level changed, **Stop sharing** after a confirmation), **Leave**
 * for the invitee (`/records/:id/sharing/leave`, confirmed first), and the invitation link
 * `/sharing/accept?token=…` (sign in or create an account first, then **Accept** or **Decline**).
 * Every form answers 303 (PRG); refusals of a level reach the error handler as 403 pages in words.
 */
import express, { type Request, type Response } from 'express';
import { DomainError, NotFound, STATUS_OF } from '../errors';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { personOf, requirePerson, signedInPerson } from '../http/require-person';
import { LEVEL_WORDS, SHARED_LEVELS } from '../records/access';
import type { Csrf } from '../security/csrf';
import { invitationForm, levelForm, tokenField } from './schemas';
import type { SharingService } from './service';
import { dayText } from './words';

type Deps = { sharing: SharingService; csrf: Csrf };

const param = (req: Request, name: string): string => {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
};

export function sharingRoutes({ sharing, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  const showSharing = async (req: Request, res: Response, status = 200, values: Record<string, string> = {}, error?: string) => {
    const person = signedInPerson(res);
    const page = await sharing.page(person, param(req, 'id'));
    // Said only of an invitation the page lists, so an address cannot put other words here.
    const sent = typeof req.query.sent === 'string' ? page.pending.find((invitation) => invitation.email === req.query.sent) : undefined;
    const notice = sent ? `Invitation sent to ${sent.email}.` : undefined;
    await sendPage(res, status, 'sharing/sharing', {
      title: `Share ${page.record.name}'s record`,
      record: page.record,
      holders: page.holders.map((holder) => ({
        ...holder,
        accessWords: LEVEL_WORDS[holder.access],
        since: dayText(holder.created_at),
        until: holder.expires_at ? dayText(holder.expires_at) : undefined,
        isYou: holder.person_id === person.id,
      })),
      pending: page.pending.map((invitation) => ({
        ...invitation,
        accessWords: LEVEL_WORDS[invitation.access],
        sent: dayText(invitation.created_at),
        until: invitation.access_expires_at ? dayText(invitation.access_expires_at) : undefined,
      })),
      levels: SHARED_LEVELS.map((level) => ({ value: level, words: LEVEL_WORDS[level] })),
      values,
      notice,
      error,
    });
  };

  router.get('/records/:id/sharing', requirePerson, csrf.issue, async (req, res) => showSharing(req, res));

  router.post('/records/:id/sharing', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const values = Object.fromEntries(['email', 'access', 'expires'].map((key) => [key, typeof body[key] === 'string' ? (body[key] as string) : '']));
    const input = invitationForm.safeParse(body);
    if (!input.success) return showSharing(req, res, 400, values, firstMessage(input.error));
    try {
      await sharing.invite(signedInPerson(res), param(req, 'id'), { email: input.data.email, access: input.data.access, until: input.data.expires });
    } catch (error) {
      if (!(error instanceof DomainError) || error.kind !== 'invalid') throw error;
      return showSharing(req, res, STATUS_OF[error.kind], values, error.message);
    }
    return res.redirect(303, `/records/${param(req, 'id')}/sharing?sent=${encodeURIComponent(input.data.email)}`);
  });

  router.post('/records/:id/sharing/invitations/:invitationId/withdraw', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    await sharing.withdraw(signedInPerson(res), param(req, 'id'), param(req, 'invitationId'));
    res.redirect(303, `/records/${param(req, 'id')}/sharing`);
  });

  router.post('/records/:id/sharing/people/:personId/access', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const input = levelForm.safeParse(req.body ?? {});
    if (!input.success) return showSharing(req, res, 400, {}, firstMessage(input.error));
    await sharing.changeLevel(signedInPerson(res), param(req, 'id'), param(req, 'personId'), input.data.access);
    return res.redirect(303, `/records/${param(req, 'id')}/sharing`);
  });

  router.get('/records/:id/sharing/people/:personId/stop', requirePerson, csrf.issue, async (req, res) => {
    const { record, holder } = await sharing.holder(signedInPerson(res), param(req, 'id'), param(req, 'personId'));
    await sendPage(res, 200, 'sharing/confirm', {
      title: `Stop sharing with ${holder.name}`,
      heading: `Stop sharing ${record.name}'s record with ${holder.name}?`,
      explanation: `${holder.name} loses access to this record at once, and every app ${holder.name} allowed to reach it loses its access too. Apps you allowed keep theirs.`,
      action: `/records/${record.id}/sharing/people/${holder.person_id}/stop`,
      button: 'Stop sharing',
      back: `/records/${record.id}/sharing`,
    });
  });

  router.post('/records/:id/sharing/people/:personId/stop', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    await sharing.stop(signedInPerson(res), param(req, 'id'), param(req, 'personId'));
    res.redirect(303, `/records/${param(req, 'id')}/sharing`);
  });

  router.get('/records/:id/sharing/leave', requirePerson, csrf.issue, async (req, res) => {
    const record = await sharing.shared(signedInPerson(res), param(req, 'id'));
    await sendPage(res, 200, 'sharing/confirm', {
      title: `Leave ${record.name}'s record`,
      heading: `Leave ${record.name}'s record?`,
      explanation:
        'You lose access to this record at once, and every app you allowed to reach it loses its access too. To come back, you need a new invitation.',
      action: `/records/${record.id}/sharing/leave`,
      button: 'Leave',
      back: `/records/${record.id}`,
    });
  });

  router.post('/records/:id/sharing/leave', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    await sharing.leave(signedInPerson(res), param(req, 'id'));
    res.redirect(303, '/records');
  });

  /** The invitation: who shares which record with what access; sign in first, then Accept or Decline. */
  router.get('/sharing/accept', csrf.issue, async (req, res) => {
    const token = tokenField.safeParse(req.query);
    if (!token.success) throw new NotFound('This invitation link is not complete. Open the link from the email again.');
    const invitation = await sharing.invitation(token.data.token);
    const here = `/sharing/accept?token=${encodeURIComponent(token.data.token)}`;
    res.set('Cache-Control', 'no-store');
    await sendPage(res, 200, 'sharing/accept', {
      title: `${invitation.inviterName} shares a record with you`,
      invitation: { ...invitation, accessWords: LEVEL_WORDS[invitation.access], untilText: invitation.until ? dayText(invitation.until) : undefined },
      token: token.data.token,
      signedIn: personOf(res) !== undefined,
      signInHref: `/login?return=${encodeURIComponent(here)}`,
      registerHref: `/register?return=${encodeURIComponent(here)}`,
    });
  });

  router.post('/sharing/accept', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const token = tokenField.safeParse(req.body ?? {});
    if (!token.success) throw new NotFound('This invitation link is not complete. Open the link from the email again.');
    const recordId = await sharing.accept(signedInPerson(res), token.data.token);
    res.redirect(303, `/records/${recordId}`);
  });

  router.post('/sharing/decline', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const token = tokenField.safeParse(req.body ?? {});
    if (!token.success) throw new NotFound('This invitation link is not complete. Open the link from the email again.');
    await sharing.decline(signedInPerson(res), token.data.token);
    res.redirect(303, '/sharing/declined');
  });

  router.get('/sharing/declined', requirePerson, async (_req, res) => {
    await sendPage(res, 200, 'pages/message', {
      title: 'Invitation declined',
      message: 'You declined the invitation. The person who invited you can see that in the record’s history.',
      link: { href: '/records', text: 'Your records' },
    });
  });

  return router;
}
