import { agentCommand } from './agent.ts';
import type { CliCommand } from './command.ts';
import { UsageError } from './command.ts';
import { demoCommand } from './demo.ts';
import { drillCommand } from './drill.ts';
import { hidCommand } from './hid.ts';
import { planCommand } from './plan.ts';
import { serveCommand } from './serve.ts';
import { upscCommand } from './upsc.ts';

/** Every `blackstart` subcommand, in the order `blackstart help` lists them. */
const commands: CliCommand[] = [
  serveCommand,
  demoCommand,
  planCommand,
  upscCommand,
  hidCommand,
  agentCommand,
  drillCommand,
];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: blackstart <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "'blackstart help <command>' shows a command's options.",
  ].join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = commands.find((c) => c.name === args[0]);
    process.stdout.write(`${topic ? topic.usage : help()}\n`);
    return 0;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`blackstart ${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`blackstart: unknown command '${name}'\n\n${help()}\n`);
    return 2;
  }
  try {
    return await command.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`blackstart ${name}: ${error.message}\n\n${command.usage}\n`);
      return 2;
    }
    throw error;
  }
}

export const VERSION = '0.1.0';
