import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { findTool, freePort, requireTool, sleep, tempDir, waitFor } from './env.ts';
import { type Spawned, spawnTracked } from './processes.ts';

/** A usbhid-ups style dump modeled on an APC Back-UPS BX1600MI (self-written, see nut-protocol.md §4.2). */
export const BX1600MI_DEV = `# modeled on a usbhid-ups dump of an APC Back-UPS BX1600MI
battery.charge: 100
battery.charge.low: 10
battery.runtime: 3167
battery.runtime.low: 120
battery.type: PbAc
battery.voltage: 27.2
battery.voltage.nominal: 24.0
device.mfr: American Power Conversion
device.model: Back-UPS BX1600MI
device.type: ups
input.sensitivity: medium
input.transfer.high: 295
input.transfer.low: 145
input.voltage: 234.0
input.voltage.nominal: 230
ups.beeper.status: enabled
ups.delay.shutdown: 20
ups.load: 10
ups.mfr: American Power Conversion
ups.model: Back-UPS BX1600MI
ups.realpower.nominal: 900
ups.status: OL
ups.test.result: Done and passed
ups.timer.reboot: 0
ups.timer.shutdown: -1
`;

/** The binaries a NUT lab needs; pass to `needs(...)`. */
export const NUT_LAB_TOOLS = ['upsd', 'dummy-ups', 'upsc'];

export interface NutUser {
  name: string;
  password: string;
  /** upsd.users lines after the password, e.g. ['upsmon primary', 'actions = SET FSD', 'instcmds = ALL']. */
  rights: string[];
}

export const DEFAULT_NUT_USERS: NutUser[] = [
  { name: 'monuser', password: 'secret', rights: ['upsmon primary', 'actions = SET FSD', 'instcmds = ALL'] },
  { name: 'secuser', password: 'secpass', rights: ['upsmon secondary'] },
];

export interface NutLabOptions {
  /** Contents of the driver's data file. A `.seq` file (with TIMER lines) loops; a `.dev` is read once and re-read on change. */
  data?: string;
  kind?: 'dev' | 'seq';
  upsName?: string;
  description?: string;
  users?: NutUser[];
  /** Extra upsd.conf lines (MAXAGE, …). */
  upsdConf?: string[];
  /**
   * false: only the lab directory is prepared, no driver or upsd is started — for running real
   * upsmon/upsc against another server (`startUpsmon({ monitor })`).
   */
  daemons?: boolean;
}

/** The certificate upsd serves after `enableTls()`. */
export interface NutLabCertificate {
  /** PEM, usable as a client's CA (self-signed, SAN ip:127.0.0.1 and dns:localhost). */
  pem: string;
  /** SHA-256 fingerprint as Node prints it ("AB:CD:…"). */
  fingerprint256: string;
}

/**
 * A throw-away NUT 2.8 lab: Debian's real `upsd` + `dummy-ups` on a random loopback port,
 * configured in a private directory, every daemon's PID recorded and killed on `stop()`.
 */
export class NutLab {
  readonly host = '127.0.0.1';
  readonly upsName: string;
  private driver?: Spawned;
  private upsd?: Spawned;
  private readonly monitors: Spawned[] = [];
  private lastDataWrite = 0;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly options: Required<Pick<NutLabOptions, 'kind' | 'upsName'>> & NutLabOptions,
    private readonly removeDir: () => void,
  ) {
    this.upsName = options.upsName;
  }

  static async start(options: NutLabOptions = {}): Promise<NutLab> {
    const dir = tempDir('blackstart-nutlab-');
    const port = await freePort();
    const lab = new NutLab(dir.path, port, { kind: 'dev', upsName: 'ups', ...options }, dir.remove);
    try {
      lab.writeConfig();
      if (options.daemons === false) return lab;
      lab.startDriver();
      await sleep(300);
      await lab.startUpsd();
      await lab.waitForData();
      return lab;
    } catch (error) {
      const logs = lab.logs();
      await lab.stop();
      throw new Error(`NUT lab failed to start: ${(error as Error).message}\n${logs}`);
    }
  }

  get etc(): string {
    return join(this.dir, 'etc');
  }
  get run(): string {
    return join(this.dir, 'run');
  }
  get dataFile(): string {
    return join(this.etc, `ups.${this.options.kind}`);
  }
  /** `ups@127.0.0.1:port` */
  get target(): string {
    return `${this.upsName}@${this.host}:${this.port}`;
  }
  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, NUT_CONFPATH: this.etc, NUT_STATEPATH: this.run, NUT_ALTPIDPATH: this.run };
  }

  private writeConfig(): void {
    const {
      upsName,
      description = 'Back-UPS BX1600MI (dummy)',
      users = DEFAULT_NUT_USERS,
      upsdConf = [],
    } = this.options;
    for (const sub of ['etc', 'run', 'log']) mkdirSync(join(this.dir, sub), { recursive: true });
    writeFileSync(this.dataFile, this.options.data ?? BX1600MI_DEV);
    writeFileSync(
      join(this.etc, 'ups.conf'),
      `maxretry = 3\n[${upsName}]\n  driver = dummy-ups\n  port = ${this.dataFile.split('/').pop()}\n  desc = "${description}"\n`,
    );
    writeFileSync(
      join(this.etc, 'upsd.conf'),
      [`LISTEN ${this.host} ${this.port}`, 'MAXAGE 15', ...upsdConf, ''].join('\n'),
    );
    writeFileSync(
      join(this.etc, 'upsd.users'),
      `${users.map((u) => [`[${u.name}]`, `  password = ${u.password}`, ...u.rights.map((r) => `  ${r}`)].join('\n')).join('\n')}\n`,
    );
    writeFileSync(join(this.etc, 'nut.conf'), 'MODE=standalone\n');
    this.fixPermissions();
  }

  /** As root the daemons drop to user `nut`: it must traverse the lab, read etc/ and own run/. */
  private fixPermissions(): void {
    if (process.getuid?.() !== 0) return;
    const uid = Number(execFileSync('id', ['-u', 'nut']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'nut']).toString().trim());
    chmodSync(this.dir, 0o755);
    chownSync(this.etc, 0, gid);
    chmodSync(this.etc, 0o750);
    for (const f of readdirSync(this.etc)) {
      const p = join(this.etc, f);
      if (statSync(p).isFile()) {
        chownSync(p, 0, gid);
        chmodSync(p, 0o664);
      }
    }
    chownSync(this.run, uid, gid);
    chmodSync(this.run, 0o770);
    chmodSync(join(this.dir, 'log'), 0o777);
  }

  startDriver(): void {
    this.driver = spawnTracked('dummy-ups', requireTool('dummy-ups'), ['-a', this.upsName, '-F'], {
      env: this.env,
      logFile: join(this.dir, 'log', 'driver.log'),
      pidFile: join(this.dir, 'pids'),
    });
  }

  async startUpsd(): Promise<void> {
    this.upsd = spawnTracked('upsd', requireTool('upsd'), ['-F'], {
      env: this.env,
      logFile: join(this.dir, 'log', 'upsd.log'),
      pidFile: join(this.dir, 'pids'),
    });
    await waitFor(() => this.upsc(['-l', `${this.host}:${this.port}`]).ok, {
      timeoutMs: 10_000,
      what: 'upsd to listen',
    });
  }

  async killDriver(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.driver?.kill(signal);
    this.driver = undefined;
  }

  /** The running upsd's process id (benchmarks read its CPU time). */
  get upsdPid(): number | undefined {
    return this.upsd?.pid;
  }

  /** SIGSTOP/SIGCONT the driver: upsd reports DATA-STALE after MAXAGE. */
  pauseDriver(paused: boolean): void {
    if (this.driver) process.kill(this.driver.pid, paused ? 'SIGSTOP' : 'SIGCONT');
  }

  async killUpsd(): Promise<void> {
    await this.upsd?.kill();
    this.upsd = undefined;
  }

  /** Restarting upsd clears the FSD latch. */
  async restartUpsd(): Promise<void> {
    await this.killUpsd();
    await this.startUpsd();
    await this.waitForData();
  }

  /** Runs the real `upsc` (stderr's SSL notice is kept separate). */
  upsc(args: string[]): { ok: boolean; stdout: string; stderr: string; status: number } {
    try {
      const stdout = execFileSync(requireTool('upsc'), args, {
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 10_000,
      });
      return { ok: true, stdout: stdout.toString(), stderr: '', status: 0 };
    } catch (error) {
      const e = error as { status?: number; stdout?: Buffer; stderr?: Buffer };
      return {
        ok: false,
        stdout: e.stdout?.toString() ?? '',
        stderr: e.stderr?.toString() ?? '',
        status: e.status ?? -1,
      };
    }
  }

  /** The value upsc reports for a variable, or undefined when it cannot be read. */
  read(variable: string): string | undefined {
    const r = this.upsc([this.target, variable]);
    return r.ok ? r.stdout.trim() : undefined;
  }

  async waitForData(timeoutMs = 15_000): Promise<void> {
    await waitFor(
      () => {
        const s = this.read('ups.status');
        return s !== undefined && s !== 'WAIT';
      },
      { timeoutMs, what: 'ups.status from the dummy driver' },
    );
  }

  /**
   * Rewrites variables in the `.dev` file and waits until upsd serves them. dummy-ups compares
   * mtimes in whole seconds, so writes are spaced and the mtime is pushed to a fresh second.
   */
  async setVars(vars: Record<string, string>, { wait = true } = {}): Promise<void> {
    const since = Date.now() - this.lastDataWrite;
    if (since < 1100) await sleep(1100 - since);
    let text = readFileSync(this.dataFile, 'utf8');
    for (const [name, value] of Object.entries(vars)) {
      const line = `${name}: ${value}`;
      const re = new RegExp(`^${name.replace(/\./g, '\\.')}:.*$`, 'm');
      text = re.test(text) ? text.replace(re, line) : `${text.trimEnd()}\n${line}\n`;
    }
    writeFileSync(this.dataFile, text);
    const now = Math.floor(Date.now() / 1000) + 1;
    utimesSync(this.dataFile, now, now);
    this.lastDataWrite = Date.now();
    if (!wait) return;
    const expected = vars['ups.status'];
    if (expected !== undefined) {
      await waitFor(() => this.read('ups.status')?.replace(/^FSD /, '') === expected, {
        timeoutMs: 15_000,
        what: `ups.status '${expected}'`,
      });
    }
  }

  setStatus(status: string, options?: { wait?: boolean }): Promise<void> {
    return this.setVars({ 'ups.status': status }, options);
  }

  /**
   * Starts a real `upsmon` against any NUT server (this lab's upsd by default). Its SHUTDOWNCMD
   * appends a timestamp to `shutdownFile` instead of powering anything off.
   */
  async startUpsmon(options: {
    role: 'primary' | 'secondary';
    user: string;
    password: string;
    monitor?: string;
    name?: string;
    settings?: Record<string, string | number>;
  }): Promise<UpsmonHandle> {
    const name = options.name ?? `upsmon-${options.role}-${this.monitors.length}`;
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const shutdownFile = join(dir, 'SHUTDOWNCMD.ran');
    const notifyFile = join(dir, 'notify.log');
    const settings = {
      POLLFREQ: 2,
      POLLFREQALERT: 1,
      HOSTSYNC: 10,
      DEADTIME: 6,
      FINALDELAY: 1,
      ...options.settings,
    };
    const conf = [
      `MONITOR ${options.monitor ?? this.target} 1 ${options.user} ${options.password} ${options.role}`,
      'MINSUPPLIES 1',
      `SHUTDOWNCMD "date +%s.%N >> ${shutdownFile}"`,
      `POWERDOWNFLAG ${join(dir, 'killpower')}`,
      `NOTIFYCMD "${join(dir, 'notify.sh')}"`,
      ...['ONLINE', 'ONBATT', 'LOWBATT', 'FSD', 'COMMOK', 'COMMBAD', 'SHUTDOWN', 'NOCOMM'].map(
        (e) => `NOTIFYFLAG ${e} SYSLOG+EXEC`,
      ),
      ...Object.entries(settings).map(([k, v]) => `${k} ${v}`),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'upsmon.conf'), conf);
    writeFileSync(
      join(dir, 'notify.sh'),
      `#!/bin/sh\necho "$(date +%s.%N) $NOTIFYTYPE $*" >> ${notifyFile}\n`,
      { mode: 0o755 },
    );
    writeFileSync(notifyFile, '');
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'nut']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'nut']).toString().trim());
      chownSync(dir, 0, gid);
      chmodSync(dir, 0o770);
      chownSync(join(dir, 'upsmon.conf'), 0, gid);
      chmodSync(join(dir, 'upsmon.conf'), 0o640);
      chownSync(notifyFile, uid, gid);
    }
    // upsmon 2.8.0 keeps its PID file in a compiled-in path; `-P <dead pid>` skips the
    // "already running" check so several can run side by side (nut-protocol.md §4.7).
    const deadPid = String(2 ** 22 - 1 - this.monitors.length);
    const proc = spawnTracked(name, requireTool('upsmon'), ['-D', '-P', deadPid], {
      env: { ...process.env, NUT_CONFPATH: dir, NUT_STATEPATH: dir },
      logFile: join(dir, 'upsmon.log'),
      pidFile: join(this.dir, 'pids'),
    });
    this.monitors.push(proc);
    return new UpsmonHandle(proc, dir, shutdownFile, notifyFile);
  }

  /**
   * Gives upsd a certificate (NSS database, as Debian's NSS build of upsd needs: CERTPATH +
   * CERTIDENT) and restarts it, so that STARTTLS is accepted. Needs certutil (libnss3-tools).
   */
  async enableTls(): Promise<NutLabCertificate> {
    const db = join(this.dir, 'certdb');
    const password = 'labpass123';
    mkdirSync(db, { recursive: true });
    writeFileSync(join(db, '.pw'), `${password}\n`);
    writeFileSync(join(db, 'noise'), randomBytes(64));
    const certutil = requireTool('certutil');
    const run = (args: string[]) =>
      execFileSync(certutil, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    const dbArgs = ['-d', `sql:${db}`, '-f', join(db, '.pw')];
    run(['-N', ...dbArgs]);
    const subject = '-n upsd -s CN=127.0.0.1 -t CTu,CTu,CTu -k rsa -g 2048 -v 12';
    const usage = '--keyUsage digitalSignature,keyEncipherment --extKeyUsage serverAuth';
    const san = '--extSAN ip:127.0.0.1,dns:localhost';
    run(['-S', '-x', ...dbArgs, '-z', join(db, 'noise'), ...`${subject} ${usage} ${san}`.split(' ')]);
    const pem = run(['-L', '-d', `sql:${db}`, '-n', 'upsd', '-a']).toString();
    if (process.getuid?.() === 0) {
      const gid = Number(execFileSync('id', ['-g', 'nut']).toString().trim());
      chownSync(db, 0, gid);
      chmodSync(db, 0o750);
      for (const f of readdirSync(db)) {
        chownSync(join(db, f), 0, gid);
        chmodSync(join(db, f), 0o640);
      }
    }
    appendFileSync(join(this.etc, 'upsd.conf'), `CERTPATH ${db}\nCERTIDENT upsd ${password}\n`);
    await this.restartUpsd();
    return { pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
  }

  logs(): string {
    const dir = join(this.dir, 'log');
    if (!existsSync(dir)) return '';
    return readdirSync(dir)
      .map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').slice(-2000)}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.monitors.map((m) => m.kill()), this.upsd?.kill(), this.driver?.kill()]);
    this.removeDir();
  }
}

export class UpsmonHandle {
  constructor(
    readonly process: Spawned,
    readonly dir: string,
    readonly shutdownFile: string,
    readonly notifyFile: string,
  ) {}

  /** Epoch seconds at which SHUTDOWNCMD ran, or undefined if it has not. */
  shutdownAt(): number | undefined {
    if (!existsSync(this.shutdownFile)) return undefined;
    const first = readFileSync(this.shutdownFile, 'utf8').trim().split('\n')[0];
    return first ? Number(first) : undefined;
  }

  notifications(): Array<{ at: number; type: string; message: string }> {
    if (!existsSync(this.notifyFile)) return [];
    return readFileSync(this.notifyFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [at, type, ...rest] = line.split(' ');
        return { at: Number(at), type: type ?? '', message: rest.join(' ') };
      });
  }

  log(): string {
    const file = join(this.dir, 'upsmon.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  stop(): Promise<void> {
    return this.process.kill();
  }
}

export function nutLabAvailable(): boolean {
  return NUT_LAB_TOOLS.every((t) => findTool(t));
}
