import { spawn } from 'node:child_process';
import { request } from 'node:http';
import type { Hook } from '@blackstart/agent-protocol';

export interface HookResult {
  ok: boolean;
  /** e.g. "exit 0 in 1.2 s", "timed out after 60 s" */
  summary: string;
  /** The last few KB of what the hook printed or did. */
  output: string;
}

export interface HookContext {
  /** Variables describing the outage, added to the environment of everything a hook starts. */
  env: Record<string, string>;
  /** Aborted when the command is cancelled: the running hook stops at once. */
  signal?: AbortSignal;
  /** libvirt connection URI for `libvirt-shutdown`. */
  libvirtUri: string;
  /** Docker Engine API endpoint for `docker-stop`: `unix:///path`, `tcp://host:port` or `http://host:port`. */
  dockerHost: string;
  /** The virsh executable (default: `virsh` on PATH). */
  virsh?: string;
}

const OUTPUT_TAIL = 2048;
const tail = (text: string) => text.slice(-OUTPUT_TAIL);
const elapsed = (started: number) => `${((Date.now() - started) / 1000).toFixed(1)} s`;

/** Runs one hook with its timeout; whatever it started is killed when it overruns or is cancelled. */
export async function runHook(hook: Hook, context: HookContext): Promise<HookResult> {
  if (context.signal?.aborted) return { ok: false, summary: 'cancelled before it started', output: '' };
  switch (hook.type) {
    case 'command':
      return await runCommandHook(hook.run, hook.timeout, context);
    case 'docker-stop':
      return await stopDockerContainers(hook.projects, hook.timeout, context);
    case 'libvirt-shutdown':
      return await shutDownLibvirtDomains(hook.domains, hook.timeout, hook.destroyAfterTimeout, context);
  }
}

// ---- processes -------------------------------------------------------------------------------

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  output: string;
  timedOut: boolean;
  cancelled: boolean;
  error?: Error;
}

/**
 * Runs a program in its own process group and collects its output; on timeout or cancellation the
 * whole group is killed, so a hook's children do not outlive it.
 */
function runProcess(
  command: string,
  args: string[],
  options: { env: Record<string, string>; timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-64 * 1024);
      output = tail(output + chunk.toString());
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output = tail(output + chunk.toString());
    });
    let timedOut = false;
    let cancelled = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const onAbort = () => {
      cancelled = true;
      killGroup();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let error: Error | undefined;
    child.on('error', (e) => {
      error = e;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout, output, timedOut, cancelled, ...(error && { error }) });
    });
  });
}

async function runCommandHook(run: string, timeout: number, context: HookContext): Promise<HookResult> {
  const started = Date.now();
  const r = await runProcess('/bin/sh', ['-c', run], {
    env: context.env,
    timeoutMs: timeout * 1000,
    signal: context.signal,
  });
  if (r.error) return { ok: false, summary: `could not start: ${r.error.message}`, output: r.output };
  if (r.cancelled) return { ok: false, summary: `cancelled after ${elapsed(started)}`, output: r.output };
  if (r.timedOut) return { ok: false, summary: `timed out after ${timeout} s`, output: r.output };
  return {
    ok: r.code === 0,
    summary:
      r.code === null
        ? `killed by ${r.signal} after ${elapsed(started)}`
        : `exit ${r.code} in ${elapsed(started)}`,
    output: r.output,
  };
}

// ---- Docker ----------------------------------------------------------------------------------

interface DockerEndpoint {
  socketPath?: string;
  host?: string;
  port?: number;
}

export function dockerEndpoint(dockerHost: string): DockerEndpoint {
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  if (url.protocol !== 'http:') throw new Error(`unsupported Docker host '${dockerHost}'`);
  return { host: url.hostname, port: Number(url.port || 2375) };
}

/** One Docker Engine API call; resolves to the status and parsed JSON body (if any). */
function dockerApi(
  endpoint: DockerEndpoint,
  method: string,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...endpoint,
        method,
        path,
        headers: { host: 'docker' },
        timeout: timeoutMs,
        ...(signal && { signal }),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          if (text.length < 4 * 1024 * 1024) text += chunk.toString();
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // plain-text answer (errors from some engines)
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the Docker API did not answer ${method} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

interface DockerContainer {
  Id: string;
  Names?: string[];
  Labels?: Record<string, string>;
}

const containerName = (c: DockerContainer) => c.Names?.[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12);

/**
 * Stops every running container, or only those of the named Compose projects (the
 * `com.docker.compose.project` label), in parallel through the Docker Engine API. Each container
 * gets `timeout` seconds after SIGTERM before the engine kills it, as `docker stop -t` does.
 */
async function stopDockerContainers(
  projects: string[] | undefined,
  timeout: number,
  context: HookContext,
): Promise<HookResult> {
  const started = Date.now();
  const lines: string[] = [];
  let endpoint: DockerEndpoint;
  try {
    endpoint = dockerEndpoint(context.dockerHost);
  } catch (error) {
    return { ok: false, summary: (error as Error).message, output: '' };
  }
  const listTimeout = 15_000;
  try {
    let containers: DockerContainer[];
    if (projects && projects.length > 0) {
      containers = [];
      for (const project of projects) {
        const filters = encodeURIComponent(
          JSON.stringify({ label: [`com.docker.compose.project=${project}`] }),
        );
        const r = await dockerApi(
          endpoint,
          'GET',
          `/containers/json?filters=${filters}`,
          listTimeout,
          context.signal,
        );
        if (r.status !== 200)
          throw new Error(`listing containers of ${project} failed (${r.status}): ${JSON.stringify(r.body)}`);
        const found = r.body as DockerContainer[];
        if (found.length === 0) lines.push(`${project}: no running containers`);
        containers.push(...found);
      }
    } else {
      const r = await dockerApi(endpoint, 'GET', '/containers/json', listTimeout, context.signal);
      if (r.status !== 200)
        throw new Error(`listing containers failed (${r.status}): ${JSON.stringify(r.body)}`);
      containers = r.body as DockerContainer[];
      if (containers.length === 0) lines.push('no running containers');
    }
    const results = await Promise.all(
      containers.map(async (c) => {
        const t0 = Date.now();
        try {
          // The engine answers once the container has stopped (or was killed after `t` seconds).
          const r = await dockerApi(
            endpoint,
            'POST',
            `/containers/${encodeURIComponent(c.Id)}/stop?t=${Math.ceil(timeout)}`,
            (timeout + 30) * 1000,
            context.signal,
          );
          if (r.status === 204 || r.status === 304) {
            lines.push(`stopped ${containerName(c)} in ${elapsed(t0)}`);
            return true;
          }
          lines.push(`${containerName(c)}: stop failed (${r.status}) ${JSON.stringify(r.body)}`);
          return false;
        } catch (error) {
          lines.push(`${containerName(c)}: ${(error as Error).message}`);
          return false;
        }
      }),
    );
    if (context.signal?.aborted)
      return { ok: false, summary: `cancelled after ${elapsed(started)}`, output: tail(lines.join('\n')) };
    const failed = results.filter((ok) => !ok).length;
    return {
      ok: failed === 0,
      summary:
        failed === 0
          ? `stopped ${containers.length} container(s) in ${elapsed(started)}`
          : `${failed} of ${containers.length} container(s) did not stop`,
      output: tail(lines.join('\n')),
    };
  } catch (error) {
    if (context.signal?.aborted)
      return { ok: false, summary: `cancelled after ${elapsed(started)}`, output: tail(lines.join('\n')) };
    return {
      ok: false,
      summary: `Docker API at ${context.dockerHost}: ${(error as Error).message}`,
      output: tail(lines.join('\n')),
    };
  }
}

// ---- libvirt ---------------------------------------------------------------------------------

const POLL_MS = 500;

/**
 * Asks libvirt domains to shut down (ACPI, as `virsh shutdown`) — every running domain, or only
 * the named ones — waits up to `timeout` seconds for them to be off, then destroys (pulls the
 * plug on) those still running if `destroyAfterTimeout` is set.
 */
async function shutDownLibvirtDomains(
  domains: string[] | undefined,
  timeout: number,
  destroyAfterTimeout: boolean,
  context: HookContext,
): Promise<HookResult> {
  const started = Date.now();
  const lines: string[] = [];
  const virsh = async (...args: string[]) => {
    const r = await runProcess(context.virsh ?? 'virsh', ['-q', '-c', context.libvirtUri, ...args], {
      env: context.env,
      timeoutMs: 30_000,
      signal: context.signal,
    });
    if (r.error) throw new Error(`cannot run virsh: ${r.error.message}`);
    return r;
  };
  const running = async (): Promise<Set<string>> => {
    const r = await virsh('list', '--name', '--state-running', '--state-paused', '--state-other');
    if (r.code !== 0) throw new Error(`virsh list failed: ${r.output.trim()}`);
    return new Set(
      r.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    );
  };
  const result = (ok: boolean, summary: string): HookResult => ({
    ok,
    summary,
    output: tail(lines.join('\n')),
  });
  try {
    const active = await running();
    const targets = domains && domains.length > 0 ? domains.filter((d) => active.has(d)) : [...active];
    for (const d of domains ?? []) if (!active.has(d)) lines.push(`${d}: not running`);
    if (targets.length === 0) return result(true, 'no running domains');
    for (const domain of targets) {
      const r = await virsh('shutdown', domain);
      lines.push(
        r.code === 0 ? `${domain}: shutdown requested` : `${domain}: shutdown refused: ${r.output.trim()}`,
      );
    }
    let remaining = targets;
    const deadline = started + timeout * 1000;
    while (remaining.length > 0 && Date.now() < deadline) {
      if (context.signal?.aborted) return result(false, `cancelled after ${elapsed(started)}`);
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
      const now = await running();
      for (const d of remaining) if (!now.has(d)) lines.push(`${d}: shut off after ${elapsed(started)}`);
      remaining = remaining.filter((d) => now.has(d));
    }
    if (remaining.length === 0)
      return result(true, `${targets.length} domain(s) shut down in ${elapsed(started)}`);
    if (!destroyAfterTimeout)
      return result(false, `timed out after ${timeout} s; still running: ${remaining.join(', ')}`);
    const failed: string[] = [];
    for (const domain of remaining) {
      const r = await virsh('destroy', domain);
      if (r.code === 0) lines.push(`${domain}: destroyed after the ${timeout} s timeout`);
      else {
        failed.push(domain);
        lines.push(`${domain}: destroy failed: ${r.output.trim()}`);
      }
    }
    return failed.length === 0
      ? result(
          true,
          `${targets.length - remaining.length} shut down, ${remaining.length} destroyed after ${timeout} s`,
        )
      : result(false, `could not destroy: ${failed.join(', ')}`);
  } catch (error) {
    if (context.signal?.aborted) return result(false, `cancelled after ${elapsed(started)}`);
    return result(false, (error as Error).message);
  }
}
