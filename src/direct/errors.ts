/**
 * Refusals of Direct messaging, as domain errors: the API answers them as JSON with their
 * status, the inbox page shows them above the form, the SMTP receiver turns them into replies
 * (smtp.ts). Each names what to do in a sentence.
 */
import { DomainError } from '../errors';

/** No record has this Direct address (API 404, SMTP 550 at RCPT TO). */
export class UnknownAddress extends DomainError {
  constructor(address: string) {
    super('not_found', `There is no Direct address ${address} at carevault: check the address.`, 'unknown_recipient');
  }
}

/** An attachment whose type carevault does not accept, or whose content is not what it says. */
export class RefusedAttachment extends DomainError {
  constructor(message: string) {
    super('invalid', message, 'unsupported_attachment');
  }
}

/** A message with more than it may carry: too many attachments, too much text. */
export class RefusedMessage extends DomainError {
  constructor(message: string) {
    super('invalid', message, 'invalid_message');
  }
}

/** Over 25 MB (API 413, SMTP 552). */
export class MessageTooLarge extends DomainError {
  constructor(message: string) {
    super('too_large', message, 'message_too_large');
  }
}
