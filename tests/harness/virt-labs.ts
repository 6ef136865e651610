import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool, tempDir, waitFor } from './env.ts';
import { type Spawned, spawnTracked } from './processes.ts';

const run = promisify(execFile);

/** Binaries a `LibvirtLab` needs; pass to `needs(...)`. */
export const LIBVIRT_LAB_TOOLS = ['libvirtd', 'virsh', 'setpriv'];

/**
 * A private libvirtd (Debian's, run unprivileged as `nobody` in session mode, socket in a temporary
 * directory) serving libvirt's built-in `test` hypervisor: real libvirt, real virsh, no VMs.
 * libvirt's test driver keeps its domains only while a connection is open, so the lab holds one
 * (`virsh event --loop`, whose lifecycle events it records) for its whole life.
 */
export class LibvirtLab {
  /** Lifecycle events seen by the holding connection, e.g. "event 'lifecycle' for domain 'web': Stopped Shutdown". */
  readonly events: string[] = [];

  private constructor(
    readonly uri: string,
    private readonly dir: { path: string; remove(): void },
    private readonly daemon: Spawned,
    private readonly holder: Spawned,
  ) {}

  static async start(): Promise<LibvirtLab> {
    const dir = tempDir('blackstart-libvirt-');
    chmodSync(dir.path, 0o777);
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir.path,
      XDG_RUNTIME_DIR: dir.path,
      XDG_CONFIG_HOME: join(dir.path, 'config'),
      XDG_CACHE_HOME: join(dir.path, 'cache'),
    };
    const asNobody =
      process.getuid?.() === 0
        ? ['--reuid=65534', '--regid=65534', '--clear-groups']
        : ['--reuid', String(process.getuid?.())];
    const daemon = spawnTracked(
      'libvirtd',
      requireTool('setpriv'),
      [...asNobody, requireTool('libvirtd'), '--timeout', '600'],
      { env, cwd: dir.path, logFile: join(dir.path, 'libvirtd.log'), background: true },
    );
    const socket = join(dir.path, 'libvirt', 'libvirt-sock');
    await waitFor(() => existsSync(socket), { timeoutMs: 20_000, what: 'libvirtd to listen' });
    const uri = `test+unix:///default?socket=${socket}`;
    const holder = spawnTracked(
      'virsh-event',
      requireTool('virsh'),
      ['-c', uri, 'event', '--all', '--loop'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        background: true,
      },
    );
    const lab = new LibvirtLab(uri, dir, daemon, holder);
    holder.child.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lab.events.push(line.trim());
    });
    await waitFor(async () => (await lab.virsh('list', '--all', '--name')).includes('test'), {
      timeoutMs: 20_000,
      what: 'the test hypervisor',
    });
    return lab;
  }

  async virsh(...args: string[]): Promise<string> {
    const { stdout } = await run(requireTool('virsh'), ['-q', '-c', this.uri, ...args], { timeout: 30_000 });
    return stdout;
  }

  /** Defines and starts a test domain. */
  async startDomain(name: string): Promise<void> {
    const xml = join(this.dir.path, `${name}.xml`);
    writeFileSync(
      xml,
      `<domain type='test'><name>${name}</name><memory>8192</memory><os><type>hvm</type></os></domain>\n`,
    );
    await this.virsh('define', xml);
    await this.virsh('start', name);
  }

  async state(name: string): Promise<string> {
    return (await this.virsh('domstate', name)).trim();
  }

  async stop(): Promise<void> {
    await this.holder.kill();
    await this.daemon.kill();
    this.dir.remove();
  }
}

/** Binaries a `DockerApiLab` needs; pass to `needs(...)`. */
export const DOCKER_API_LAB_TOOLS = ['podman', 'runc', 'busybox'];

/**
 * A real Docker Engine API on a private unix socket: Podman's Docker-compatible API service
 * (`podman system service`) over private storage, with containers made from a busybox root
 * filesystem (no image download). runc with the host's cgroup hierarchy bind-mounted copes with
 * hosts whose cgroups are in hybrid mode (crun refuses those).
 */
export class DockerApiLab {
  private constructor(
    readonly socket: string,
    private readonly dir: { path: string; remove(): void },
    private readonly service: Spawned,
    private readonly globals: string[],
    private readonly rootfs: string,
    private readonly ulimits: string[],
  ) {}

  /** For `--docker-host` / `DOCKER_HOST`. */
  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  static async start(): Promise<DockerApiLab> {
    const dir = tempDir('blackstart-docker-');
    const globals = [
      '--root',
      join(dir.path, 'root'),
      '--runroot',
      join(dir.path, 'runroot'),
      '--tmpdir',
      join(dir.path, 'tmp'),
      '--storage-driver',
      'vfs',
      '--cgroup-manager',
      'cgroupfs',
      '--runtime',
      requireTool('runc'),
      '--events-backend',
      'file',
    ];
    const rootfs = join(dir.path, 'rootfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp'])
      mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(requireTool('busybox'), join(rootfs, 'bin', 'busybox'));
    for (const applet of ['sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', applet));
    // Containers may not raise limits above ours (no CAP_SYS_RESOURCE in some sandboxes): pin them to ours.
    const { stdout } = await run('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn']);
    const [soft, hard] = stdout.trim().split('\n');
    const limit = (v: string | undefined) => (v === 'unlimited' ? '-1' : (v ?? '1024'));
    const ulimits = ['--ulimit', `nofile=${limit(soft)}:${limit(hard)}`, '--ulimit', 'nproc=1024:1024'];
    const socket = join(dir.path, 'docker.sock');
    const service = spawnTracked(
      'podman-service',
      requireTool('podman'),
      [...globals, 'system', 'service', '--time', '0', `unix://${socket}`],
      { logFile: join(dir.path, 'service.log'), background: true },
    );
    await waitFor(() => existsSync(socket), { timeoutMs: 30_000, what: 'the Docker API socket' });
    return new DockerApiLab(socket, dir, service, globals, rootfs, ulimits);
  }

  async podman(...args: string[]): Promise<string> {
    const { stdout } = await run(requireTool('podman'), [...this.globals, ...args], { timeout: 60_000 });
    return stdout;
  }

  /**
   * Starts a container running `command` (busybox sh), optionally labelled as part of a Compose
   * project. `sleep` as PID 1 ignores SIGTERM, so a plain `sleep` container only stops when killed.
   */
  async startContainer(name: string, command: string, project?: string): Promise<void> {
    await this.podman(
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'none',
      '--cgroupns',
      'host',
      '-v',
      '/sys/fs/cgroup:/sys/fs/cgroup:ro',
      ...this.ulimits,
      ...(project ? ['--label', `com.docker.compose.project=${project}`] : []),
      '--rootfs',
      this.rootfs,
      '/bin/sh',
      '-c',
      command,
    );
  }

  /** Names of running containers. */
  async running(): Promise<string[]> {
    const out = await this.podman('ps', '--format', '{{.Names}}');
    return out.split('\n').filter(Boolean).sort();
  }

  async stop(): Promise<void> {
    await this.podman('rm', '-f', '-a', '-t', '0').catch(() => '');
    await this.service.kill();
    // vfs layers can hold read-only files; rm -rf as root copes.
    rmSync(this.dir.path, { recursive: true, force: true });
  }
}
