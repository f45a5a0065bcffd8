/**
 * Process entry for `npm start`: settings → start → serve; SIGTERM/SIGINT shut down gracefully.
 */
import { ConfigError, loadConfig } from './config';
import { describeError, log } from './log';

async function main(): Promise<void> {
  const config = loadConfig();
  // Loaded after the settings are checked, so a bad setting is the only thing printed.
  const { startCarevault } = await import('./carevault.js');
  const carevault = await startCarevault(config);
  const shutdown = (signal: string) => {
    log.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    carevault.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('shutdown failed', describeError(error));
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`carevault: ${error.message}\n`);
  } else {
    process.stderr.write(`carevault: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(1);
});
