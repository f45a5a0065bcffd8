/**
 * Shapes of identifiers, checked before they reach SQL: a malformed uuid is "not found", not a
 * database error. carevault writes uuids in lower case, so only that spelling names a thing.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
