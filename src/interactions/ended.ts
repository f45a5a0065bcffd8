/**
 * Steps oidc-provider no longer knows (Back, a reload, a second tab after the answer): told as they
 * are rather than as an error — a finished request says how it ended (its result only to the person
 * who gave it), an old step leads to the current one, a dead one offers the way back to the app —
 * and a feature whose flow went through the step says where that flow stands.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { sendPage } from '../http/render';
import { personOf } from '../http/require-person';
import type { EndedStep, Interactions } from '../oidc/interactions';
import type { RecordService } from '../records/service';
import { InteractionExpired } from './pending';

/** oidc-provider's interaction ids (21 URL-safe characters); anything else is no step at all. */
const uidSchema = z.string().regex(/^[A-Za-z0-9_-]{10,64}$/);

/** Where the page of a finished interaction leads when a feature's flow went through it (`undefined`: not its own). */
export type StepOver = (uid: string) => Promise<string | undefined>;

type Deps = {
  interactions: Pick<Interactions, 'ended'>;
  records: Pick<RecordService, 'recordsOf'>;
  /** Features' pages for interactions that are over, asked before "start again". */
  stepsOver: readonly StepOver[];
};

type Handler = (req: Request, res: Response) => Promise<void>;

/** Wraps the interaction pages' handlers so a step that is gone is told as it is. */
export function endedSteps({ interactions, records, stepsOver }: Deps): (handler: Handler, form?: boolean) => Handler {
  /** The page of an interaction that is over: a feature whose flow it was says where that flow stands. */
  const overPage = async (uid: string): Promise<string | undefined> => {
    for (const over of stepsOver) {
      const page = await over(uid);
      if (page) return page;
    }
    return undefined;
  };

  /**
   * What became of a step oidc-provider no longer knows, when it is this browser's to hear: a step
   * of someone else (another person signed in here) is not told.
   */
  const endedFor = async (req: Request, res: Response): Promise<EndedStep | undefined> => {
    const uid = uidSchema.safeParse(req.params.uid);
    const ended = uid.success ? await interactions.ended(uid.data) : undefined;
    const person = personOf(res);
    if (!ended || (person && ended.kind !== 'finished' && ended.personId && ended.personId !== person.id)) return undefined;
    return ended;
  };

  const showEnded = async (res: Response, ended: EndedStep) => {
    if (ended.kind === 'moved') {
      res.redirect(303, `/interaction/${ended.uid}`);
      return;
    }
    if (ended.kind === 'dead') {
      await sendPage(res, 410, 'interactions/ended', {
        title: 'Please start again',
        heading: `This request from ${ended.clientName} has ended`,
        message: 'It took too long, or your sign-in ended before you answered. Nothing was shared.',
        back: ended.back,
        clientName: ended.clientName,
      });
      return;
    }
    const person = personOf(res);
    const own = person !== undefined && person.id === ended.personId;
    const record = own && ended.recordId ? (await records.recordsOf(person.id)).find((item) => item.id === ended.recordId) : undefined;
    const whose = record ? `${record.name}'s record` : 'the record you chose';
    const words =
      ended.outcome === 'allowed'
        ? {
            heading: `You connected ${ended.clientName}`,
            message: own
              ? `This request was already answered: ${ended.clientName} can reach ${whose} under the rules you allowed. ` +
                'You can see or remove its access on Connected apps.'
              : 'This request was already answered.',
            link: own ? { href: '/apps', text: 'See Connected apps' } : undefined,
          }
        : ended.outcome === 'denied'
          ? {
              heading: `You did not connect ${ended.clientName}`,
              message: 'This request was already answered: you pressed Deny, so nothing new was shared.',
              link: undefined,
            }
          : { heading: 'This request was already answered', message: `Go back to ${ended.clientName} to carry on.`, link: undefined };
    await sendPage(res, 200, 'interactions/ended', { title: words.heading, ...words, back: undefined, clientName: ended.clientName });
  };

  /**
   * Runs a page's handler; a step that is gone is told as it is — a form answers with a redirect to
   * that page — and one that cannot be told is the error page that asks to start again.
   */
  return (handler, form = false) =>
    async (req, res) => {
      try {
        await handler(req, res);
      } catch (error) {
        if (!(error instanceof InteractionExpired) || res.headersSent) throw error;
        const page = await overPage(String(req.params.uid));
        if (page) return res.redirect(303, page);
        const ended = await endedFor(req, res);
        if (!ended) throw error;
        if (form) res.redirect(303, `/interaction/${String(req.params.uid)}`);
        else await showEnded(res, ended);
      }
    };
}
