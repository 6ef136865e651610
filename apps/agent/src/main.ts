import pino from 'pino';
import { AGENT_VERSION, EnrollmentFailed, enroll, loadFailsafeHooks, runAgent } from './agent.ts';
import { AgentConfigError, loadAgentConfig, splitCommand, USAGE } from './config.ts';
import { AgentState } from './state.ts';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.includes('--version') || argv[0] === 'version') {
    process.stdout.write(`blackstart-agent ${AGENT_VERSION}\n`);
    return 0;
  }
  const { command, args } = splitCommand(argv);
  let config: ReturnType<typeof loadAgentConfig>;
  try {
    config = loadAgentConfig(args);
  } catch (error) {
    if (error instanceof AgentConfigError) {
      process.stderr.write(`blackstart-agent: ${error.message}\n\n${USAGE}\n`);
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
    if (command === 'enroll') {
      loadFailsafeHooks(config.failsafeHooksFile);
      const state = new AgentState(config.stateDir);
      if (await state.controllerKey()) {
        process.stderr.write(`blackstart-agent: already enrolled (state in ${config.stateDir})\n`);
        return 0;
      }
      await enroll(config, state, log);
      process.stderr.write(`blackstart-agent: enrolled '${config.host}' with ${config.controllerUrl}\n`);
      return 0;
    }
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
      process.stderr.write(`blackstart-agent: ${error.message}\n`);
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
