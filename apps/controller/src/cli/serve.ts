import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfigFile } from '../config.ts';
import { startController } from '../controller.ts';
import { createLogger } from '../logger.ts';
import { type CliCommand, UsageError } from './command.ts';

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the controller with a configuration file',
  usage: `usage: blackstart serve [--config <file>]

Runs the controller: reads the UPS sources, evaluates the plan, serves the API and the agents'
WebSocket. The configuration file defaults to $BLACKSTART_CONFIG, then ./blackstart.yaml.
See docs/configuration.md.`,
  async run(args) {
    let values: { config?: string | undefined };
    try {
      ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const file = values.config ?? process.env.BLACKSTART_CONFIG ?? 'blackstart.yaml';
    let config: ReturnType<typeof loadConfigFile>;
    try {
      config = loadConfigFile(file);
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`blackstart: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
    const log = createLogger();
    const controller = await startController(config, log);
    log.info(
      {
        url: controller.url,
        controller: controller.identity.id,
        database: controller.database.kind,
        queue: controller.queue.kind,
        tlsFingerprint: controller.tls?.fingerprint,
      },
      'controller running',
    );
    if (controller.auth.generatedAdminPassword) {
      // Shown once: only its hash is kept. Set auth.adminPassword (or BLACKSTART_ADMIN_PASSWORD) to choose one.
      process.stderr.write(
        `\nGenerated admin password (shown only this once): ${controller.auth.generatedAdminPassword}\n\n`,
      );
    }
    closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
      if (err) log.error({ err }, 'shutting down after an error');
      else log.info({ signal }, 'shutting down');
      await controller.close();
    });
    return await new Promise<number>(() => {});
  },
};
