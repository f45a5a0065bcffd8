/**
 * Collects what carevault writes to stderr while a test runs (its structured log goes there line by
 * line), so a test can read the lines or search them for secrets it used.
 */
export type CapturedLogs = {
  /** Everything written so far. */
  text(): string;
  /** Each line parsed as JSON; throws on a line that is not (an unstructured print). */
  entries(): Record<string, unknown>[];
  stop(): void;
};

export function captureLogs(options: { echo?: boolean } = {}): CapturedLogs {
  const chunks: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return options.echo ? (original as (...args: unknown[]) => boolean)(chunk, ...rest) : true;
  }) as typeof process.stderr.write;
  const text = () => chunks.join('');
  return {
    text,
    entries: () =>
      text()
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>;
          } catch {
            throw new Error(`a log line is not JSON: ${line.slice(0, 200)}`);
          }
        }),
    stop: () => {
      process.stderr.write = original;
    },
  };
}
