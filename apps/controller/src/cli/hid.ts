import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  DescriptorUnavailableError,
  FixtureError,
  HidUnavailableError,
  type HidUps,
  HidUps as HidUpsDevice,
  listUpsDevices,
  loadFixtureFile,
  nodeHidOpener,
  parseSelector,
  QUIRK_DEFAULTS,
  type QuirkSwitches,
  RecordingTransport,
  ReplayDevice,
  type TransportOpener,
  UnsupportedDeviceError,
  type UpsDevice,
  UpsNotFoundError,
  type UpsOptions,
  UpsPermissionError,
  type UpsSelector,
} from '@blackstart/hid-driver';
import { type CliCommand, UsageError } from './command.ts';

const usage = `usage: blackstart hid <list|dump|record> [options]

Read a USB HID UPS (APC, CyberPower, Eaton/MGE, other Power Device Class units) directly.

  blackstart hid list [--json]
      List the USB HID UPSes attached to this machine.

  blackstart hid dump [<selector>] [--commands] [--paths] [--json] [--quirk name=value]... [--verbose]
  blackstart hid dump --replay <file> [same options]
      Print the UPS variables like upsc ("name: value"), from the UPS or from a fixture:
      a Blackstart JSON fixture, or a NUT .dev dump whose comments carry a usbhid-ups -DDD log.
      --commands  also list the instant commands the UPS supports and how they are carried out
      --paths     also list every HID field with its path and value (like NUT's explore mode)
      --quirk     override a quirk switch, e.g. --quirk onlineDischarge=ignore
      --verbose   print descriptor warnings and the fix-ups applied

  blackstart hid record <file> [<selector>] [--seconds N] [--redact] [--replay <file>]
      Capture a fixture for a bug report: the report descriptor, every feature report, and the
      interrupt reports sent during N seconds (default 10; pull the mains plug meanwhile to record
      an outage). --redact replaces the serial number.

Selectors: auto (first UPS, the default), /dev/hidrawN, VVVV:PPPP[:SERIAL] in hex,
or key=value pairs: vendor=051d,product=0002,serial=…,path=/dev/hidraw0.
The controller's user needs access to the hidraw node: see deploy/udev/README.md.`;

function fail(message: string): never {
  throw new UsageError(message);
}

/** `--quirk name=value`, typed after the switch's default. */
function parseQuirks(values: string[]): Partial<QuirkSwitches> {
  const quirks: Record<string, unknown> = {};
  for (const entry of values) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq) as keyof QuirkSwitches;
    const raw = entry.slice(eq + 1).trim();
    if (eq < 0 || !(name in QUIRK_DEFAULTS)) {
      fail(`--quirk ${entry}: expected name=value, name one of ${Object.keys(QUIRK_DEFAULTS).join(', ')}`);
    }
    const template = QUIRK_DEFAULTS[name];
    if (typeof template === 'boolean') {
      if (raw !== 'true' && raw !== 'false') fail(`--quirk ${name}: expected true or false`);
      quirks[name] = raw === 'true';
    } else if (typeof template === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n) || n < 0) fail(`--quirk ${name}: expected a number ≥ 0`);
      quirks[name] = n;
    } else if (Array.isArray(template)) {
      const ids = raw === '' ? [] : raw.split(',').map(Number);
      if (ids.some((id) => !Number.isInteger(id) || id < 0 || id > 255)) {
        fail(`--quirk ${name}: expected comma-separated report IDs 0..255`);
      }
      quirks[name] = ids;
    } else {
      const allowed = ['report', 'ignore', 'on-battery', 'calibration'];
      if (!allowed.includes(raw)) fail(`--quirk ${name}: expected one of ${allowed.join(', ')}`);
      quirks[name] = raw;
    }
  }
  return quirks as Partial<QuirkSwitches>;
}

function selectorFrom(positionals: string[]): UpsSelector {
  if (positionals.length > 1) fail(`one selector at most, got: ${positionals.join(' ')}`);
  try {
    return parseSelector(positionals[0]);
  } catch (error) {
    return fail((error as Error).message);
  }
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

async function list(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length > 0) fail(`hid list takes no arguments, got: ${positionals.join(' ')}`);
  const devices: UpsDevice[] = await listUpsDevices();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
    return 0;
  }
  if (devices.length === 0) {
    process.stdout.write(
      'no USB HID UPS found (is it plugged in? a running NUT usbhid-ups driver detaches it from hidraw)\n',
    );
    return 0;
  }
  const rows = devices.map((d) => [
    d.path,
    `${hex4(d.vendorId)}:${hex4(d.productId)}`,
    d.profile,
    d.manufacturer ?? '',
    d.product ?? '',
    d.serialNumber ?? '',
  ]);
  const header = ['PATH', 'ID', 'PROFILE', 'MANUFACTURER', 'PRODUCT', 'SERIAL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
  return 0;
}

interface Opened {
  ups: HidUps;
  /** Set when recording: the transport that captures what passes. */
  recorder: RecordingTransport | undefined;
}

async function openSource(
  replay: string | undefined,
  selector: UpsSelector,
  options: UpsOptions,
  record: boolean,
): Promise<Opened> {
  const source: TransportOpener = replay
    ? new ReplayDevice(await loadFixtureFile(replay), { playInputs: record }).opener()
    : nodeHidOpener(selector);
  let recorder: RecordingTransport | undefined;
  const opener: TransportOpener = record
    ? {
        description: source.description,
        open: async () => {
          recorder = new RecordingTransport(await source.open());
          return recorder;
        },
      }
    : source;
  const ups = await HidUpsDevice.open(opener, options);
  return { ups, recorder };
}

async function dump(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      replay: { type: 'string' },
      commands: { type: 'boolean' },
      paths: { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
      quirk: { type: 'string', multiple: true },
    },
    allowPositionals: true,
  });
  if (values.replay && positionals.length > 0) fail('give either a selector or --replay <file>, not both');
  const selector = selectorFrom(positionals);
  const quirks = parseQuirks(values.quirk ?? []);
  const { ups } = await openSource(values.replay, selector, { pollIntervalMs: 0, quirks }, false);
  if (values.verbose) ups.on('warning', (w) => process.stderr.write(`warning: ${w}\n`));
  try {
    if (values.verbose) for (const note of ups.notes) process.stderr.write(`note: ${note}\n`);
    const variables = await ups.read();
    const commands = values.commands
      ? ups.describeCommands().sort((a, b) => a.name.localeCompare(b.name))
      : undefined;
    const paths = values.paths ? await ups.explore() : undefined;
    if (values.json) {
      const out = { variables, ...(commands && { commands }), ...(paths && { paths }) };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    for (const [name, value] of Object.entries(variables)) process.stdout.write(`${name}: ${value}\n`);
    if (commands) {
      process.stdout.write('\ninstant commands:\n');
      for (const c of commands) process.stdout.write(`  ${c.name}  (${c.via})\n`);
    }
    if (paths) {
      process.stdout.write('\nHID fields:\n');
      for (const p of paths) {
        const where = `${p.kind} 0x${p.reportId.toString(16).padStart(2, '0')} @${p.bitOffset}/${p.bitSize}`;
        const unit = p.unit ? ` ${p.unit}` : '';
        process.stdout.write(`  ${p.path} = ${p.value}${unit} (logical ${p.logical}; ${where})\n`);
      }
    }
    return 0;
  } finally {
    await ups.close();
  }
}

async function record(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      replay: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      redact: { type: 'boolean' },
    },
    allowPositionals: true,
  });
  const [file, ...rest] = positionals;
  if (!file) fail('hid record needs the output file');
  if (values.replay && rest.length > 0) fail('give either a selector or --replay <file>, not both');
  const selector = selectorFrom(rest);
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600)
    fail('--seconds must be a number from 0 to 3600');
  const { ups, recorder } = await openSource(values.replay, selector, { pollIntervalMs: 0 }, true);
  try {
    await ups.read();
    await ups.explore(); // every feature report, mapped or not, ends up in the fixture
    if (seconds > 0) {
      process.stderr.write(
        `recording ${ups.description}: listening for interrupt reports for ${seconds} s (pull the mains plug now to record an outage)\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    }
    const variables = await ups.read();
    if (values.redact) {
      for (const key of ['device.serial', 'ups.serial']) if (key in variables) variables[key] = 'REDACTED';
    }
    const fixture = recorder!.toFixture(
      { variables, commands: ups.supportedCommands() },
      `recorded by blackstart hid record on ${new Date().toISOString()}`,
    );
    if (values.redact && fixture.device.serialNumber) fixture.device.serialNumber = 'REDACTED';
    await writeFile(file, `${JSON.stringify(fixture, null, 2)}\n`);
    process.stdout.write(
      `wrote ${file}: ${Object.keys(fixture.features).length} feature reports, ${fixture.inputs?.length ?? 0} interrupt reports, ${Object.keys(variables).length} variables\n`,
    );
    return 0;
  } finally {
    await ups.close();
  }
}

/** Errors a user can act on: one line, exit status 1, no stack trace. */
const EXPECTED = [
  UpsNotFoundError,
  UpsPermissionError,
  DescriptorUnavailableError,
  HidUnavailableError,
  UnsupportedDeviceError,
  FixtureError,
];

export const hidCommand: CliCommand = {
  name: 'hid',
  summary: 'read a USB HID UPS directly: list, dump variables, record a fixture',
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    try {
      switch (sub) {
        case 'list':
          return await list(rest);
        case 'dump':
          return await dump(rest);
        case 'record':
          return await record(rest);
        case undefined:
          return fail('missing subcommand (list, dump or record)');
        default:
          return fail(`unknown subcommand '${sub}'`);
      }
    } catch (error) {
      if (error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
        throw new UsageError(error.message);
      }
      if (EXPECTED.some((kind) => error instanceof kind)) {
        process.stderr.write(`blackstart hid: ${(error as Error).message}\n`);
        return 1;
      }
      throw error;
    }
  },
};
