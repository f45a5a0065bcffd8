/**
 * What the record repository refuses, as domain errors (the FHIR API renders them as
 * OperationOutcomes; a pickup or a filing shows them on a page).
 */
import { DomainError, Invalid, NotFound } from '../errors';

/** The resource is not valid FHIR R4, or breaks a rule of the record; `expression` locates it. */
export class InvalidResource extends Invalid {
  constructor(
    message: string,
    readonly expression: string[] = [],
  ) {
    super(message, 'invalid_resource');
  }
}

export class ResourceNotFound extends NotFound {
  constructor(type: string, id: string) {
    super(`${type}/${id} is not in this record.`);
  }
}

/** The resource changed since the version the caller last saw. */
export class VersionConflict extends DomainError {
  constructor(message: string) {
    super('precondition_failed', message, 'version_conflict');
  }
}

/** An interaction the record does not allow for this type (a second Patient, deleting the Patient). */
export class NotSupported extends DomainError {
  constructor(message: string) {
    super('unsupported', message, 'not_supported');
  }
}

/** A write that would reach another record. */
export class OtherRecord extends DomainError {
  constructor(message: string) {
    super('forbidden', message, 'other_record');
  }
}

/** The resource was deleted: reads answer 410 Gone, and its earlier versions stay in history. */
export class ResourceDeleted extends DomainError {
  constructor(type: string, id: string, versionId?: number) {
    super(
      'gone',
      versionId === undefined
        ? `${type}/${id} was deleted; its earlier versions are in its history.`
        : `Version ${versionId} of ${type}/${id} is its deletion.`,
      'deleted',
    );
  }
}

/** The request would make the server do or return more than one request may (a Bundle past its bounds). */
export class TooCostly extends DomainError {
  constructor(message: string) {
    super('too_large', message, 'too_costly');
  }
}

/** A conditional create whose criteria match more than one resource: which one was meant is unknown. */
export class MultipleMatches extends DomainError {
  constructor(message: string) {
    super('precondition_failed', message, 'multiple_matches');
  }
}

/** Something the request was checked against changed before it could be written; sending it again settles it. */
export class ChangedMeanwhile extends DomainError {
  constructor(message: string) {
    super('conflict', message, 'changed_meanwhile');
  }
}
