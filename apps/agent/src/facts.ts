import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces, release } from 'node:os';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** What the controller learns about a host when it enrolls (MACs and addresses serve Wake-on-LAN). */
export function hostFacts(version: string): Record<string, unknown> {
  const machineId = read('/etc/machine-id');
  const osRelease = read('/etc/os-release');
  const interfaces = Object.entries(networkInterfaces()).flatMap(([name, addrs]) =>
    (addrs ?? [])
      .filter((a) => !a.internal)
      .map((a) => ({ name, mac: a.mac, address: a.address, family: a.family })),
  );
  return {
    hostname: hostname(),
    // Hashed so the controller can recognise the machine without holding its raw id.
    machineIdHash: machineId ? createHash('sha256').update(machineId).digest('hex') : null,
    os: osRelease?.match(/^PRETTY_NAME="?([^"\n]*)"?/m)?.[1] ?? `${process.platform} ${release()}`,
    kernel: release(),
    bootId: read('/proc/sys/kernel/random/boot_id') ?? null,
    agentVersion: version,
    interfaces,
  };
}

export function bootId(): string | undefined {
  return read('/proc/sys/kernel/random/boot_id');
}
