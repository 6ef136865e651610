import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { requireTool } from './env.ts';

/** Binaries a `NetLab` needs; pass to `needs(...)`. */
export const NET_LAB_TOOLS = ['ip'];

export interface LabHost {
  /** Network namespace name (for `ip netns exec`). */
  ns: string;
  /** The host's own address on the lab network. */
  address: string;
  /** The bridge-side end of its veth pair, in the root namespace. */
  peer: string;
}

/**
 * Hosts with their own network namespaces and addresses on a private bridge (created in the root
 * namespace, with the lab's first address, for a server the test runs itself). Nothing is routed
 * anywhere else; `remove()` deletes every namespace, link and address the lab made.
 * `cut(host)` takes the host's link down at the bridge: its packets vanish silently, like a pulled
 * cable — neither side gets an error, only silence.
 */
export class NetLab {
  readonly hosts = new Map<string, LabHost>();
  private removed = false;

  private constructor(
    readonly id: string,
    readonly bridge: string,
    readonly prefix: string,
  ) {}

  /** The address of the bridge itself (the root namespace's side of the lab). */
  get gateway(): string {
    return `${this.prefix}.1`;
  }

  static create(): NetLab {
    const id = randomBytes(3).toString('hex');
    const used = execFileSync(requireTool('ip'), ['-o', '-4', 'addr', 'show']).toString();
    let prefix = '';
    for (let i = 0; i < 50 && !prefix; i++) {
      const candidate = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}`;
      if (!used.includes(` ${candidate}.`)) prefix = candidate;
    }
    const lab = new NetLab(id, `bsbr${id}`, prefix);
    lab.ip('link', 'add', lab.bridge, 'type', 'bridge');
    lab.ip('addr', 'add', `${lab.gateway}/24`, 'dev', lab.bridge);
    lab.ip('link', 'set', lab.bridge, 'up');
    return lab;
  }

  ip(...args: string[]): string {
    return execFileSync(requireTool('ip'), args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  /** Adds a host `name` with address <prefix>.<n>, its interface `eth0` attached to the bridge. */
  addHost(name: string): LabHost {
    const n = this.hosts.size + 11;
    const host: LabHost = {
      ns: `bs-${this.id}-${name}`,
      address: `${this.prefix}.${n}`,
      peer: `bsv${this.id}${n}`,
    };
    this.ip('netns', 'add', host.ns);
    this.hosts.set(name, host);
    this.ip('link', 'add', host.peer, 'type', 'veth', 'peer', 'name', `bsx${this.id}${n}`);
    this.ip('link', 'set', `bsx${this.id}${n}`, 'netns', host.ns);
    this.ip('-n', host.ns, 'link', 'set', `bsx${this.id}${n}`, 'name', 'eth0');
    this.ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
    this.ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
    this.ip('-n', host.ns, 'link', 'set', 'lo', 'up');
    this.ip('link', 'set', host.peer, 'master', this.bridge);
    this.ip('link', 'set', host.peer, 'up');
    return host;
  }

  /** Command prefix running `command` inside host `name`'s namespace. */
  exec(name: string, command: string, args: string[]): { command: string; args: string[] } {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no lab host '${name}'`);
    return { command: requireTool('ip'), args: ['netns', 'exec', host.ns, command, ...args] };
  }

  /** Pulls host `name`'s cable: its link goes down at the bridge. */
  cut(name: string): void {
    this.ip('link', 'set', this.hosts.get(name)!.peer, 'down');
  }

  restore(name: string): void {
    this.ip('link', 'set', this.hosts.get(name)!.peer, 'up');
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    for (const host of this.hosts.values()) {
      try {
        this.ip('link', 'del', host.peer);
      } catch {
        // went with its namespace
      }
      try {
        this.ip('netns', 'del', host.ns);
      } catch {
        // already gone
      }
    }
    try {
      this.ip('link', 'del', this.bridge);
    } catch {
      // already gone
    }
  }
}
