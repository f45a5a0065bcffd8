/**
 * A person's token whose liveness is still to be read (src/api/liveness.ts) is read once per
 * request: by the first statement that carries it, or on its own; work that comes while that read
 * is running waits for it and runs without it; a token found not live refuses every work of the
 * request; and a statement that failed leaves the liveness to be read on its own, never assumed.
 */
import { InvalidToken } from '../../src/api/errors';
import { recordLiveness } from '../../src/api/liveness';
import type { TokenLiveness } from '../../src/oidc/store';

const VALUES: TokenLiveness = { grantId: 'grant', jti: 'jti', refreshTokenKey: undefined, rules: ['patient/Observation.rs'] };

/** A liveness whose own read answers `live`, counting the reads. */
function livenessAnswering(live: boolean) {
  const reads: TokenLiveness[] = [];
  const liveness = recordLiveness(
    VALUES,
    async (values) => {
      reads.push(values);
      return live;
    },
    () => new InvalidToken('ended', true),
  );
  return { liveness, reads };
}

test('the first statement carries the values; the next runs without them and reads nothing more', async () => {
  const { liveness, reads } = livenessAnswering(true);
  const carried: (TokenLiveness | undefined)[] = [];
  const work = async (values: TokenLiveness | undefined) => {
    carried.push(values);
    return { live: true, result: carried.length };
  };
  expect(await liveness.carriedBy(work)).toBe(1);
  expect(await liveness.carriedBy(work)).toBe(2);
  await liveness.settle();
  expect(carried).toEqual([VALUES, undefined]);
  expect(reads).toEqual([]);
});

test('work that comes while the carrying statement runs waits for its answer', async () => {
  const { liveness } = livenessAnswering(true);
  let answer: (live: boolean) => void = () => undefined;
  const order: string[] = [];
  const first = liveness.carriedBy(
    (values) =>
      new Promise<{ live: boolean; result: string }>((resolve) => {
        order.push(values ? 'first with the values' : 'first without');
        answer = (live) => resolve({ live, result: 'first' });
      }),
  );
  const second = liveness.carriedBy(async (values) => {
    order.push(values ? 'second with the values' : 'second without');
    return { live: true, result: 'second' };
  });
  await new Promise((resolve) => setImmediate(resolve));
  expect(order).toEqual(['first with the values']);
  answer(false);
  await expect(first).rejects.toBeInstanceOf(InvalidToken);
  await expect(second).rejects.toBeInstanceOf(InvalidToken);
  expect(order).toEqual(['first with the values']);
  await expect(liveness.settle()).rejects.toBeInstanceOf(InvalidToken);
});

test('read on its own: once, and a token that ended refuses all work after it', async () => {
  const { liveness, reads } = livenessAnswering(false);
  await expect(liveness.settle()).rejects.toBeInstanceOf(InvalidToken);
  await expect(liveness.settle()).rejects.toBeInstanceOf(InvalidToken);
  let ran = false;
  await expect(
    liveness.carriedBy(async () => {
      ran = true;
      return { live: true, result: undefined };
    }),
  ).rejects.toBeInstanceOf(InvalidToken);
  expect(ran).toBe(false);
  expect(reads).toHaveLength(1);
});

test('a carrying statement that failed leaves the liveness to be read on its own', async () => {
  const { liveness, reads } = livenessAnswering(false);
  const lost = new Error('connection lost');
  await expect(liveness.carriedBy(() => Promise.reject(lost))).rejects.toBe(lost);
  await expect(liveness.settle()).rejects.toBeInstanceOf(InvalidToken);
  expect(reads).toEqual([VALUES]);
});
