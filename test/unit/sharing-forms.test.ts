/**
 * The invitation form as zod reads it: an expiry is the end of the day given (UTC), empty means
 * none, and a day that does not exist is refused in words rather than moved on.
 */
import { invitationForm } from '../../src/sharing/schemas';

const base = { email: 'alex@example.org', access: 'view' };

test('an expiry is the end of that day in UTC; none when empty', () => {
  expect(invitationForm.parse({ ...base, expires: '2099-03-01' }).expires?.toISOString()).toBe('2099-03-01T23:59:59.999Z');
  expect(invitationForm.parse({ ...base, expires: '' }).expires).toBeNull();
  expect(invitationForm.parse(base).expires).toBeNull();
});

test('a day that does not exist, or not a date, is refused in words', () => {
  for (const expires of ['2099-02-31', '1 March', '2099-13-01']) {
    const parsed = invitationForm.safeParse({ ...base, expires });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('Enter the expiry as a date, or leave it empty.');
  }
});

test('a level other than the three is refused', () => {
  expect(invitationForm.safeParse({ ...base, access: 'custodian' }).error?.issues[0]?.message).toBe('Choose View only, View and change or Full.');
});
