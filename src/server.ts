/**
 * Process entry for `npm start`: settings → start → serve. SIGTERM/SIGINT drain: no new
 * connections, open ones close after their current response, and the process exits 0 within
 * SHUTDOWN_TIMEOUT (connections still open a second before it are cut; a shutdown that hangs past
 * it exits 1).
 */
import { ConfigError, loadConfig } from './config';
import { describeError, log } from './log';

async function main(): Promise<void> {
  const config = loadConfig();
  // Loaded after the settings are checked, so a bad setting is the only thing printed.
  const { startCarevault } = await import('./carevault.js');
  const carevault = await startCarevault(config);
  const shutdown = (signal: string) => {
    const started = Date.now();
    log.info('shutting down', { signal, timeout: config.shutdownTimeout });
    const bound = config.shutdownTimeout * 1000;
    const force = setTimeout(() => {
      log.error('shutdown did not finish in time', { timeout: config.shutdownTimeout });
      process.exit(1);
    }, bound);
    force.unref();
    // A second is kept for closing the listeners and the database after the drain.
    carevault.shutdown(started + Math.max(0, bound - 1000)).then(
      (cut) => {
        log.info('shut down', { duration_ms: Date.now() - started, connections_cut: cut });
        process.exit(0);
      },
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
