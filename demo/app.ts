/**
 * Demo Clinic's process (started by demo/start.ts with its settings as one JSON argument): the app
 * of demo/clinic.ts on its own port, as a third-party app would run.
 */
import { createDemoClinic, type DemoSettings } from './clinic';

const settings = JSON.parse(process.argv[2] ?? '{}') as DemoSettings;

createDemoClinic(settings)
  .then((app) => app.listen(settings.port, () => process.stdout.write(`Demo Clinic listening on http://localhost:${settings.port}\n`)))
  .catch((error: unknown) => {
    process.stderr.write(`Demo Clinic could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
