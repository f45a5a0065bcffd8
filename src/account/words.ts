/**
 * What the account's mails and pages say. A recovery asked for an email no account uses gets a mail
 * of its own (the address holder learns that no account uses it) and the same page as a known
 * email, so the page says nothing about which emails have accounts (OWASP Forgot Password Cheat
 * Sheet, "consistent messages").
 */
import type { AuditWords } from '../audit/words';
import type { OutgoingMail } from '../mail';

/** How long a verification link works, and how long a reset link works. */
export const VERIFY_LINK_DAYS = 7;
export const RESET_LINK_MINUTES = 30;

export function verificationMail(to: string, name: string, link: string): OutgoingMail {
  return {
    to,
    subject: 'Confirm your email for carevault',
    text: [
      `Hello ${name},`,
      '',
      'Please confirm that this is your email address by opening this link:',
      link,
      '',
      `The link works once, for ${VERIFY_LINK_DAYS} days. If you did not create a carevault account, you can ignore this email.`,
    ].join('\r\n'),
  };
}

/** To the owner of an email someone tried to create an account with: nothing changed, and the ways in. */
export function emailTakenMail(to: string, name: string, signInLink: string, recoverLink: string): OutgoingMail {
  return {
    to,
    subject: 'Someone tried to create a carevault account with your email',
    text: [
      `Hello ${name},`,
      '',
      'Someone (we hope you) tried to create a carevault account with this email address, which your account already uses. Nothing was changed and no new account was made.',
      `If it was you, sign in: ${signInLink}`,
      `If you forgot your password, choose a new one: ${recoverLink}`,
      'If it was not you, you can ignore this email: your account stays as it is.',
    ].join('\r\n'),
  };
}

export function resetMail(to: string, name: string, link: string): OutgoingMail {
  return {
    to,
    subject: 'Choose a new carevault password',
    text: [
      `Hello ${name},`,
      '',
      'Someone (we hope you) asked to choose a new password for your carevault account. Open this link to choose one:',
      link,
      '',
      `The link works once, for ${RESET_LINK_MINUTES} minutes. Choosing a new password signs you out everywhere.`,
      'If you did not ask, you can ignore this email: your password stays as it is.',
    ].join('\r\n'),
  };
}

export function noAccountMail(to: string, recoverLink: string): OutgoingMail {
  return {
    to,
    subject: 'Choose a new carevault password',
    text: [
      'Hello,',
      '',
      'Someone (we hope you) asked to choose a new password for a carevault account with this email address, but no account uses it.',
      `If you have an account under another email address, ask again with that one: ${recoverLink}`,
      'If you did not ask, you can ignore this email.',
    ].join('\r\n'),
  };
}

export function emailChangeMail(to: string, name: string, link: string): OutgoingMail {
  return {
    to,
    subject: 'Confirm your new email for carevault',
    text: [
      `Hello ${name},`,
      '',
      'You asked to use this email address for your carevault account. Open this link to confirm it:',
      link,
      '',
      `The link works once, for ${VERIFY_LINK_DAYS} days. Until then your account keeps its old email. If you did not ask, you can ignore this email.`,
    ].join('\r\n'),
  };
}

export function emailChangeNotice(to: string, name: string, newEmail: string): OutgoingMail {
  return {
    to,
    subject: 'Your carevault email is being changed',
    text: [
      `Hello ${name},`,
      '',
      `Someone signed in to your carevault account asked to change its email from this address to ${newEmail}.`,
      'The change happens only when the link we sent to the new address is opened.',
      'If this was not you, sign in, change your password and use Sign out everywhere on your account page.',
    ].join('\r\n'),
  };
}

/** The page after signing out every device, this one included (or this one from the list). */
export const SIGNED_OUT_HERE =
  'You are signed out on this device. Apps you allowed only while you are signed in must ask you again; ' +
  'apps with offline access keep it (sign in again to see them on Connected apps).';

export const WRONG_CURRENT_PASSWORD = 'Your current password is wrong.';
export const EMAIL_TAKEN = 'Another account now uses this email, so it cannot become yours. Your email stays as it was.';

/** The status line /account shows after each of its forms (Post/Redirect/Get), by `?done=`. */
export const ACCOUNT_DONE = {
  name: 'Your name is saved.',
  password: 'Your password is changed. Your other devices are signed out.',
  email: 'We sent a link to your new email address. Your email changes when you open it; until then it stays as it is.',
  'signed-out': 'That device is signed out.',
  'message-mail-on': 'We will email you when a message arrives.',
  'message-mail-off': 'We will not email you when a message arrives.',
  'passkey-added': 'Your passkey is added. You can sign in with it, or use it after your password.',
  'passkey-removed': 'That passkey is removed.',
  'app-removed': 'Your authenticator app is removed.',
  'two-step-off': 'Two-step sign-in is off: you had no passkey or authenticator app left, so your recovery codes are gone too.',
} as const;

/** What the page after asking for a link says, whichever email was typed. */
export const RECOVERY_SENT =
  `If an account uses that email, we sent it a link to choose a new password. The link works once, for ${RESET_LINK_MINUTES} minutes. ` +
  'Check your email (and its spam folder).';

export const LINK_ENDED = 'This link has already been used or has expired.';

/** A reset of an account with two-step sign-in, sent without its code. */
export const CODE_NEEDED = 'Type the code your authenticator app shows, or one of your recovery codes.';

/** The account's audit events, in words (they are about the person, not a record). */
export const ACCOUNT_WORDS: AuditWords = {
  'account.email_verified': (_event, { person }) => `${person} confirmed their email`,
  'account.password_reset': (_event, { person }) => `${person} chose a new password with a mailed link and was signed out everywhere`,
  'account.renamed': (_event, { person }) => `${person} changed their name`,
  'account.password_changed': (_event, { person }) => `${person} changed their password and was signed out on their other devices`,
  'account.email_changed': (_event, { person }) => `${person} changed their email with a link mailed to the new address`,
  'account.two_step_on': (_event, { person }) => `${person} turned on two-step sign-in with an authenticator app`,
  'account.recovery_codes_made': (_event, { person }) => `${person} made new recovery codes`,
  'account.two_step_on_passkey': (_event, { person }) => `${person} turned on two-step sign-in with a passkey`,
  'account.passkey_added': (_event, { person }) => `${person} added a passkey`,
  'account.passkey_removed': (_event, { person }) => `${person} removed a passkey`,
  'account.authenticator_removed': (_event, { person }) => `${person} removed their authenticator app`,
  'account.two_step_off': (_event, { person }) => `${person} has no second step left: two-step sign-in is off and the recovery codes are gone`,
  'account.signed_out_device': (_event, { person }) => `${person} signed out one of their devices`,
  'account.signed_out_everywhere': (_event, { person }) => `${person} signed out everywhere`,
  'account.message_mail_on': (_event, { person }) => `${person} asked to be emailed when a message arrives`,
  'account.message_mail_off': (_event, { person }) => `${person} stopped the emails when a message arrives`,
};

/** Why "Email me when a message arrives" cannot be turned on yet. */
export const MESSAGE_MAIL_UNCONFIRMED = 'Confirm your email first: we only send these emails to an address you have confirmed.';

/**
 * The mail that a message arrived: only whose inbox and where to read it — never the sender, the
 * subject or anything of the message, which stay behind the sign-in.
 */
export function messageArrivedMail(to: string, recordNames: readonly string[], inbox: string): OutgoingMail {
  const whose = recordNames.map((name) => `${name}'s`).join(' and ');
  return {
    to,
    subject: 'A new message arrived in carevault',
    text: [
      `A new message arrived in ${whose} inbox at carevault.`,
      '',
      'Sign in to read it:',
      inbox,
      '',
      'You get this email because you asked for it on your account page; you can turn it off there.',
    ].join('\r\n'),
  };
}
