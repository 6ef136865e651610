import pino from 'pino';
import { AGENT_VERSION, EnrollmentFailed, runAgent } from './agent.ts';
import { AgentConfigError, loadAgentConfig, USAGE } from './config.ts';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`blackstart-agent ${AGENT_VERSION}\n`);
    return 0;
  }
  let config: ReturnType<typeof loadAgentConfig>;
  try {
    config = loadAgentConfig(argv);
  } catch (error) {
    if (
      error instanceof AgentConfigError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`blackstart-agent: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  // Synchronous JSON to stdout (journald): no transports, which would not survive bundling.
  const log = pino(
    { level: config.logLevel, base: { host: config.host } },
    pino.destination({ dest: 1, sync: true }),
  );
  try {
    const agent = await runAgent(config, log);
    const stop = () => {
      agent.stop();
      setTimeout(() => process.exit(0), 200).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return await new Promise<number>(() => {});
  } catch (error) {
    if (error instanceof EnrollmentFailed) {
      log.error(error.message);
      return 1;
    }
    throw error;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `blackstart-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
