/** One `blackstart <name>` subcommand. `run` resolves to the process exit status. */
export interface CliCommand {
  name: string;
  summary: string;
  /** Full usage text printed by `blackstart help <name>` and on usage errors. */
  usage: string;
  run(args: string[]): Promise<number>;
}

/** Thrown for bad command-line usage: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
