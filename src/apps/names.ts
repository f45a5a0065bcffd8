/**
 * Apps' names, as people read them on every page, mail and history line: the name the app
 * registered (`client_name`), else its client id. Looked up one way everywhere — many at once for
 * lists, one for a page about one app.
 */

/** The name shown for an app: its registered name, else its client id. */
export function nameOfApp(clientId: string, registeredName: unknown): string {
  return typeof registeredName === 'string' && registeredName !== '' ? registeredName : clientId;
}

export type AppNames = {
  /** The names of these apps, by client id (ids of no registered app are left out). */
  names(clientIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /** One app's name (its client id when no app has it). */
  name(clientId: string): Promise<string>;
};

/** App names over the OpenID core's lookup of registered names. */
export function createAppNames(lookup: (clientIds: readonly string[]) => Promise<ReadonlyMap<string, string>>): AppNames {
  return {
    names: (clientIds) => lookup(clientIds),
    async name(clientId) {
      return (await lookup([clientId])).get(clientId) ?? clientId;
    },
  };
}
