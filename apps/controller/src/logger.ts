import pino, { type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * JSON logs to stdout; human-readable only when stdout is a terminal. pino-pretty runs as an
 * in-process stream, not a transport, so the bundled controller needs no worker files.
 */
export function createLogger(
  options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  const base: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    ...(options.name !== undefined && { name: options.name }),
    redact: {
      paths: ['token', '*.token', 'password', '*.password', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  const destination = options.destination ?? process.stdout;
  if (destination === process.stdout && process.stdout.isTTY) {
    return pino(base, pretty({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(base, destination as pino.DestinationStream);
}
