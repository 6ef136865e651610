import { NUT_DEFAULT_PORT, NutClient, NutError, NutTransportError } from '@blackstart/nut-protocol';
import type { CliCommand } from './command.ts';

const usage = `usage: blackstart upsc -l | -L [<hostname>[:port]]
       blackstart upsc <ups>[@<hostname>[:port]] [<variable>]
       blackstart upsc -c <ups>[@<hostname>[:port]]

Reads a NUT server (upsd, a NAS, or Blackstart's own) like NUT's upsc, with the same output and
exit status.

  -l          list each UPS on <hostname>, one per line
  -L          list each UPS followed by its description
  -c          list the address of each client logged into <ups>
  <variable>  print only this variable's value; default: every variable as "name: value"

Default hostname: localhost; default port: ${NUT_DEFAULT_PORT}. Like upsc, STARTTLS is tried first
and the session continues in clear text when the server refuses it.`;

/** The exit status of NUT's clients when they fail (fatalx(EXIT_FAILURE, …)). */
const FAILURE = 1;

/** libupsclient's upsd_errlist: the first entry the ERR text starts with names the message. */
const UPSD_ERRORS: Array<[string, string]> = [
  ['VAR-NOT-SUPPORTED', 'Variable not supported by UPS'],
  ['UNKNOWN-UPS', 'Unknown UPS'],
  ['ACCESS-DENIED', 'Access denied'],
  ['PASSWORD-REQUIRED', 'Password required'],
  ['PASSWORD-INCORRECT', 'Password incorrect'],
  ['MISSING-ARGUMENT', 'Missing argument'],
  ['DATA-STALE', 'Data stale'],
  ['VAR-UNKNOWN', 'Variable unknown'],
  ['ALREADY-LOGGED-IN', 'Already logged in'],
  ['ALREADY-SET-PASSWORD', 'Already set password'],
  ['UNKNOWN-TYPE', 'Unknown variable type'],
  ['UNKNOWN-VAR', 'Unknown variable'],
  ['READONLY', 'Read-only variable'],
  ['TOO-LONG', 'New value is too long'],
  ['INVALID-VALUE', 'Invalid value for variable'],
  ['SET-FAILED', 'Set command failed'],
  ['UNKNOWN-INSTCMD', 'Unknown instant command'],
  ['INSTCMD-FAILED', 'Instant command failed'],
  ['CMD-NOT-SUPPORTED', 'Instant command not supported'],
  ['INVALID-USERNAME', 'Invalid username'],
  ['ALREADY-SET-USERNAME', 'Already set username'],
  ['UNKNOWN-COMMAND', 'Unknown command'],
  ['INVALID-PASSWORD', 'Invalid password'],
  ['USERNAME-REQUIRED', 'Username required'],
  ['DRIVER-NOT-CONNECTED', 'Driver not connected'],
];

/** strerror() texts for the socket errors a connection can end with (glibc wording). */
const STRERROR: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ECONNRESET: 'Connection reset by peer',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EPIPE: 'Broken pipe',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EINVAL: 'Invalid argument',
};

class Fatal extends Error {}

/** The message upsc prints after "Error: " for a failed request. */
function upscliMessage(error: unknown): string {
  if (error instanceof NutError) {
    const text = [error.code, ...error.extra].join(' ');
    return UPSD_ERRORS.find(([code]) => text.startsWith(code))?.[1] ?? 'Unknown error';
  }
  if (error instanceof NutTransportError) {
    const code = error.syscallCode;
    switch (error.reason) {
      case 'connect':
        if (code === 'ENOTFOUND') return 'No such host';
        return `Connection failure: ${STRERROR[code ?? ''] ?? (code === undefined ? 'Connection timed out' : code)}`;
      case 'protocol':
        return 'Protocol error';
      case 'tls':
        return `SSL error: ${error.message}`;
      default:
        return code && STRERROR[code] ? `Read error: ${STRERROR[code]}` : 'Server disconnected';
    }
  }
  return 'Unknown error';
}

/** upscli_splitaddr(): `host[:port]` or `[v6 literal][:port]`. */
function splitAddress(text: string): { host: string; port: number } | undefined {
  let host: string;
  let rest: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return undefined;
    host = text.slice(1, end);
    rest = text.slice(end + 1);
    if (!rest.startsWith(':')) return { host, port: NUT_DEFAULT_PORT };
  } else {
    const colon = text.indexOf(':');
    if (colon < 0) return text === '' ? undefined : { host: text, port: NUT_DEFAULT_PORT };
    host = text.slice(0, colon);
    rest = text.slice(colon);
  }
  const port = Number.parseInt(rest.slice(1), 10);
  if (rest.length < 2 || !(port >= 1 && port <= 65535) || host === '') return undefined;
  return { host, port };
}

/** upscli_splitname(): `ups[@host[:port]]`. */
function splitName(text: string): { ups: string; host: string; port: number } | undefined {
  const at = text.indexOf('@');
  if (at < 0) return text === '' ? undefined : { ups: text, host: 'localhost', port: NUT_DEFAULT_PORT };
  const address = splitAddress(text.slice(at + 1));
  return address && at > 0 ? { ups: text.slice(0, at), ...address } : undefined;
}

interface Parsed {
  mode: 'ups-list' | 'vars' | 'clients' | 'help';
  verbose: boolean;
  operands: string[];
}

/** getopt("+hlLcV"): options up to the first operand. */
function parseArgs(args: string[]): Parsed {
  const parsed: Parsed = { mode: 'vars', verbose: false, operands: [] };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    for (const flag of arg.slice(1)) {
      if (flag === 'l' || flag === 'L') {
        parsed.mode = 'ups-list';
        parsed.verbose ||= flag === 'L';
      } else if (flag === 'c') {
        if (parsed.mode !== 'ups-list') parsed.mode = 'clients';
      } else {
        parsed.mode = 'help'; // upsc prints its usage and exits 0 for -h, -V and unknown options
        return parsed;
      }
    }
  }
  parsed.operands = args.slice(i);
  return parsed;
}

async function run(args: string[], out: string[]): Promise<void> {
  const { mode, verbose, operands } = parseArgs(args);
  if (mode === 'help') {
    out.push(`${usage}\n`);
    return;
  }
  const target = operands[0];
  let host: string;
  let port: number;
  let ups = '';
  if (mode === 'ups-list') {
    const address = splitAddress(target ?? 'localhost');
    if (!address) throw new Fatal('Error: invalid hostname.\nRequired format: [hostname[:port]]');
    ({ host, port } = address);
  } else {
    const name = target === undefined ? undefined : splitName(target);
    if (!name) throw new Fatal('Error: invalid UPS definition.\nRequired format: upsname[@hostname[:port]]');
    ({ ups, host, port } = name);
  }

  let client: NutClient;
  try {
    client = await NutClient.connect({
      host,
      port,
      reconnect: false,
      // libupsclient's UPSCLI_CONN_TRYSSL without a certificate database.
      tls: { mode: 'try', allowPlaintextFallback: true, verify: false },
    });
  } catch (error) {
    throw new Fatal(`Error: ${upscliMessage(error)}`);
  }
  const tooOld = (error: unknown) =>
    error instanceof NutError && error.code === 'UNKNOWN-COMMAND'
      ? 'Error: upsd is too old to support this query'
      : undefined;
  try {
    if (mode === 'ups-list') {
      for (const u of await client.listUps())
        out.push(verbose ? `${u.name}: ${u.description}\n` : `${u.name}\n`);
    } else if (mode === 'clients') {
      for (const address of await client.listClients(ups)) out.push(`${address}\n`);
    } else if (operands.length > 1) {
      const variable = operands[1] ?? '';
      if (!variable.includes('.')) throw new Fatal('Error: old-style variable names are not supported');
      try {
        out.push(`${await client.getVar(ups, variable)}\n`);
      } catch (error) {
        if (error instanceof NutError && error.code === 'UNKNOWN-COMMAND') {
          throw new Fatal('Error: variable unknown (old upsd detected)');
        }
        throw error;
      }
    } else {
      for (const [name, value] of Object.entries(await client.listVars(ups))) out.push(`${name}: ${value}\n`);
    }
  } catch (error) {
    if (error instanceof Fatal) throw error;
    throw new Fatal(tooOld(error) ?? `Error: ${upscliMessage(error)}`);
  } finally {
    client.close();
  }
}

export const upscCommand: CliCommand = {
  name: 'upsc',
  summary: 'read a NUT server like NUT’s upsc (same output and exit status)',
  usage,
  async run(args) {
    const out: string[] = [];
    try {
      await run(args, out);
      process.stdout.write(out.join(''));
      return 0;
    } catch (error) {
      if (!(error instanceof Fatal)) throw error;
      // Like upsc (stdio buffers flushed at exit): what was printed before the error still appears.
      process.stdout.write(out.join(''));
      process.stderr.write(`${error.message}\n`);
      return FAILURE;
    }
  },
};
