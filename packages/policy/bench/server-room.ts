// A deterministic 10 000-host plan for the policy benchmark.

export const HOSTS = 10_000;

/**
 * Where the bench's clock starts: 2026-01-01 in ms. The controller steps the engine at wall-clock
 * time, and V8 stores such times differently from small ones (a boxed double, not a small integer),
 * so a clock starting at 0 would time code the controller never runs.
 */
export const WALL_CLOCK = Date.UTC(2026, 0, 1);

/** Deterministic PRNG (mulberry32): the same plan on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A server room of 10 000 hosts on 4 UPSes: 200 storage hosts, 1 800 hypervisors that use 1–2 of
 * them, 7 999 services on 1–3 hypervisors, and the controller. A tenth have redundant supplies.
 * Triggers mix budget, time on battery and charge; shutdowns take 5–120 s.
 */
export function serverRoom(seed = 1): unknown {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ups = ['a', 'b', 'c', 'd'].map((id) => ({
    id: `ups-${id}`,
    powerOff: { delay: 120 },
    battery: {
      load: 45,
      samples: [
        { load: 45, runtime: 2700 },
        { load: 80, runtime: 1200 },
      ],
    },
  }));
  const supplies = () =>
    rnd() < 0.1 ? [pick(ups).id, pick(ups).id].filter((x, i, a) => a.indexOf(x) === i) : [pick(ups).id];
  const triggers = () =>
    pick([
      [{ type: 'budget' }],
      [{ type: 'budget' }, { type: 'on-battery', after: 900 }],
      [{ type: 'on-battery', after: 60 + 30 * Math.floor(rnd() * 20) }, { type: 'low-battery' }],
      [{ type: 'charge-below', percent: 40 + Math.floor(rnd() * 4) * 10 }],
    ]);
  const hosts: unknown[] = [];
  const mac = (i: number) =>
    `02:00:${[i >> 16, (i >> 8) & 255, i & 255, 1].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
  const host = (id: string, kind: string, dependsOn: string[], i: number) => ({
    id,
    kind,
    dependsOn,
    supplies: supplies(),
    shutdown: { triggers: triggers(), timeout: 300, expectedDuration: 5 + Math.floor(rnd() * 116) },
    wake: { method: 'wol', mac: mac(i), timeout: 300, retries: 1 },
  });
  const storage = Array.from({ length: 200 }, (_, i) => `storage-${i}`);
  const hypervisors = Array.from({ length: 1800 }, (_, i) => `hv-${i}`);
  storage.forEach((id, i) => {
    hosts.push(host(id, rnd() < 0.5 ? 'nut-client' : 'agent', [], hosts.length + i));
  });
  hypervisors.forEach((id) => {
    hosts.push(
      host(
        id,
        'agent',
        [...new Set([pick(storage), pick(storage)])].slice(0, 1 + Math.floor(rnd() * 2)),
        hosts.length,
      ),
    );
  });
  for (let i = 0; hosts.length < HOSTS - 1; i++) {
    const deps = [
      ...new Set(
        Array.from({ length: 1 + Math.floor(rnd() * 3) }, () =>
          rnd() < 0.8 ? pick(hypervisors) : pick(storage),
        ),
      ),
    ];
    hosts.push(host(`svc-${i}`, 'agent', deps, hosts.length));
  }
  hosts.push({
    id: 'controller',
    kind: 'controller',
    supplies: ['ups-a'],
    shutdown: { triggers: [{ type: 'low-battery' }], expectedDuration: 30 },
  });
  return {
    ups,
    hosts,
    settings: { budget: { margin: 120 } },
    restore: { mainsStableFor: 120, minCharge: 30 },
  };
}
