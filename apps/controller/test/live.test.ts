/**
 * What the web UI reads: the live feed over WebSocket (snapshot, readings, state, timeline events),
 * a UPS's recent telemetry, the readiness board, and the what-if simulation of an unsaved plan.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningAgent } from '@blackstart/agent';
import { waitFor } from '@blackstart/tests';
import WebSocket from 'ws';
import type { LiveMessage, LiveState } from '../src/live/live-feed.ts';
import type { SimulatorSource } from '../src/sources/simulator.ts';
import { startTestController, type TestController } from './helpers.ts';

const plan = {
  ups: [{ id: 'ups', powerOff: { enabled: false }, battery: { samples: [{ load: 40, runtime: 1200 }] } }],
  hosts: [
    { id: 'app', kind: 'agent', dependsOn: ['nas'], shutdown: { timeout: 30, expectedDuration: 20 } },
    {
      id: 'nas',
      kind: 'agent',
      shutdown: { timeout: 60, expectedDuration: 40 },
      wake: { method: 'wol', mac: '52:54:00:12:34:56' },
    },
    { id: 'printer', kind: 'wake-only', wake: { method: 'relay', via: 'app', mac: '52:54:00:ab:cd:ef' } },
  ],
  settings: { debounce: 1, mainsBackAfter: 1, defaultTriggers: [{ type: 'on-battery', after: 1 }] },
  restore: { mainsStableFor: 1, minCharge: 0 },
};

/** A UI client of the live feed that keeps every message. */
class LiveClient {
  readonly messages: LiveMessage[] = [];
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.messages.push(JSON.parse(String(data)) as LiveMessage));
  }

  static async open(url: string, token: string): Promise<LiveClient> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const client = new LiveClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  async next<T extends LiveMessage>(what: string, match: (m: LiveMessage) => m is T): Promise<T> {
    let found: T | undefined;
    await waitFor(
      () => {
        found = this.messages.find(match);
        return found !== undefined;
      },
      { timeoutMs: 15_000, what },
    );
    return found!;
  }

  latestState(): LiveState | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i]!;
      if (m.type === 'state' || m.type === 'snapshot') return m.state;
    }
    return undefined;
  }

  close(): void {
    this.socket.close();
  }
}

describe('live feed and UI endpoints', () => {
  let t: TestController;
  let sim: SimulatorSource;
  const agents = new Map<string, RunningAgent>();

  before(async () => {
    t = await startTestController({
      sources: [{ id: 'ups', type: 'simulator', interval: 0.2, returnDelay: 0 }],
      plan,
    });
    sim = t.controller.sources.get('ups') as SimulatorSource;
    await Promise.all(['app', 'nas'].map(async (h) => agents.set(h, await t.agent(h))));
  });
  after(() => t?.close());

  test('the feed refuses a client without a login', async () => {
    const socket = new WebSocket(`${t.controller.url.replace(/^http/, 'ws')}/api/v1/live`);
    socket.on('error', () => {}); // the refusal is the point
    const status = await new Promise<number | undefined>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      socket.once('open', () => resolve(undefined));
    });
    socket.terminate();
    assert.equal(status, 401);
  });

  test('a client gets the snapshot, then readings, state changes and the outage timeline as they happen', async () => {
    await waitFor(() => t.controller.runtime.engineState.sources.ups?.reading !== undefined, {
      timeoutMs: 10_000,
      what: 'a first reading',
    });
    const client = await LiveClient.open(t.controller.url, t.token);
    try {
      const snapshot = await client.next('snapshot', (m) => m.type === 'snapshot');
      assert.equal(client.messages[0]?.type, 'snapshot', 'the snapshot comes first');
      assert.deepEqual(
        snapshot.state.hosts.map((h) => [h.id, h.kind, h.agent?.connected ?? null]),
        [
          ['app', 'agent', true],
          ['nas', 'agent', true],
          ['printer', 'wake-only', null],
        ],
      );
      assert.deepEqual(snapshot.state.hosts[0]!.dependsOn, ['nas']);
      assert.equal(snapshot.state.sources[0]!.id, 'ups');
      assert.equal(snapshot.state.outage, null);
      assert.ok((snapshot.history.ups ?? []).length > 0, 'the snapshot carries the telemetry so far');
      assert.match(snapshot.history.ups!.at(-1)!.status, /OL/);

      sim.setMains(false);
      const onBattery = await client.next(
        'an on-battery reading',
        (m): m is Extract<LiveMessage, { type: 'reading' }> =>
          m.type === 'reading' && m.point.status.includes('OB'),
      );
      assert.equal(onBattery.source, 'ups');
      assert.equal(typeof onBattery.point.charge, 'number');

      const started = await client.next(
        'the outage-started event',
        (m): m is Extract<LiveMessage, { type: 'event' }> =>
          m.type === 'event' && m.event.kind === 'outage-started',
      );
      const outageId = started.outage;
      await client.next(
        'a state with both hosts down',
        (m): m is Extract<LiveMessage, { type: 'state' }> =>
          m.type === 'state' &&
          m.state.outage?.id === outageId &&
          m.state.outage.hosts.filter((h) => h.phase === 'down').length === 2,
      );
      // The feed's events are the timeline's events, in the same order.
      const streamed = client.messages
        .filter(
          (m): m is Extract<LiveMessage, { type: 'event' }> => m.type === 'event' && m.outage === outageId,
        )
        .map((m) => m.event);
      const stored = await t.timeline(outageId);
      assert.deepEqual(
        streamed.map((e) => [e.seq, e.kind, e.host]),
        stored.events.filter((e) => e.seq <= streamed.at(-1)!.seq).map((e) => [e.seq, e.kind, e.host]),
      );
      const appDown = streamed.findIndex(
        (e) => e.kind === 'host-progress' && e.host === 'app' && e.data.step === 'powering-off',
      );
      const nasCommanded = streamed.findIndex((e) => e.kind === 'shutdown-host' && e.host === 'nas');
      assert.ok(appDown >= 0 && nasCommanded > appDown, 'app is down before nas is told to go');

      // States are coalesced: far fewer state messages than readings and events.
      const counts = { state: 0, reading: 0, event: 0 };
      for (const m of client.messages) if (m.type in counts) counts[m.type as keyof typeof counts]++;
      assert.ok(counts.state < counts.reading + counts.event, JSON.stringify(counts));

      sim.setMains(true);
      await client.next(
        'the outage over',
        (m): m is Extract<LiveMessage, { type: 'event' }> =>
          m.type === 'event' && m.outage === outageId && m.event.kind === 'outage-ended',
      );
      await waitFor(() => client.latestState()?.outage === null, {
        timeoutMs: 15_000,
        what: 'no outage in the state',
      });
    } finally {
      client.close();
    }
  });

  test('recent telemetry of a UPS, oldest first; an unknown UPS is a 404', async () => {
    const { status, body } = await t.api<{ source: string; points: Array<{ at: string; status: string }> }>(
      'GET',
      '/api/v1/sources/ups/history?minutes=5',
    );
    assert.equal(status, 200);
    assert.ok(body.points.length > 10);
    const times = body.points.map((p) => Date.parse(p.at));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.ok(body.points.some((p) => p.status.includes('OB')));
    assert.equal((await t.api('GET', '/api/v1/sources/nope/history')).status, 404);
    assert.equal((await t.api('GET', '/api/v1/sources/ups/history?minutes=lots')).status, 400);
  });

  test('the readiness board: agents, wake addresses, the last drill, what the UPS offers', async () => {
    const drill = await t.api<{ id: string }>('POST', '/api/v1/drills', {});
    assert.equal(drill.status, 202, JSON.stringify(drill.body));
    await waitFor(
      async () =>
        (await t.api<{ status: string }>('GET', `/api/v1/drills/${drill.body.id}`)).body.status !== 'running',
      { timeoutMs: 60_000, what: 'the drill to end' },
    );
    type Readiness = {
      hosts: Array<{
        id: string;
        agent: { connected: boolean } | null;
        wake: { ready: boolean; detail: string } | null;
        lastDrill: { id: string; seconds: number | null } | null;
      }>;
      ups: Array<{ id: string; capabilities: { known: boolean } | null }>;
      lastDrill: { id: string } | null;
    };
    const { body } = await t.api<Readiness>('GET', '/api/v1/readiness');
    const host = (id: string) => body.hosts.find((h) => h.id === id)!;
    assert.equal(host('app').agent?.connected, true);
    assert.equal(host('app').wake, null);
    assert.equal(host('nas').wake?.ready, true);
    assert.equal(host('printer').wake?.ready, true);
    assert.match(host('printer').wake!.detail, /relayed by app/);
    assert.equal(body.lastDrill?.id, drill.body.id);
    assert.equal(host('nas').lastDrill?.id, drill.body.id);
    assert.equal(typeof host('nas').lastDrill?.seconds, 'number');
    assert.equal(body.ups[0]?.id, 'ups');
    assert.equal(body.ups[0]?.capabilities?.known, true);
  });

  test('what-if simulates an unsaved plan from the current charge and load; invalid plans name the field', async () => {
    type WhatIf = {
      ok: boolean;
      ups: Array<{
        id: string;
        load: number;
        runtimeSeconds: number;
        lastHostDownAt: number;
        marginSeconds: number;
      }>;
      hosts: Array<{ host: string; downAt?: number }>;
      timeline: Array<{ at: number; subject: string; text: string }>;
    };
    const { status, body } = await t.api<WhatIf>('POST', '/api/v1/plan/what-if', { plan, load: { ups: 40 } });
    assert.equal(status, 200, JSON.stringify(body));
    const down = (h: string) => body.hosts.find((x) => x.host === h)?.downAt;
    assert.ok(down('app')! < down('nas')!, 'app goes down before nas');
    const ups = body.ups[0]!;
    assert.equal(ups.load, 40);
    assert.ok(ups.runtimeSeconds > 0 && ups.runtimeSeconds <= 1200);
    assert.equal(ups.lastHostDownAt, down('nas'));
    assert.equal(Math.round(ups.marginSeconds), Math.round(ups.runtimeSeconds - ups.lastHostDownAt));
    assert.ok(body.timeline.some((e) => e.subject === 'app'));

    const cyclic = structuredClone(plan);
    cyclic.hosts[1]!.dependsOn = ['app'] as never;
    const refused = await t.api<{ errors: Array<{ path: string; message: string }> }>(
      'POST',
      '/api/v1/plan/what-if',
      { plan: cyclic },
    );
    assert.equal(refused.status, 400);
    assert.ok(
      refused.body.errors.some((e) => e.path.startsWith('/hosts/') && /cycle/i.test(e.message)),
      JSON.stringify(refused.body.errors),
    );
    const badLoad = await t.api<{ errors: Array<{ path: string }> }>('POST', '/api/v1/plan/what-if', {
      plan,
      load: { nope: 10 },
    });
    assert.equal(badLoad.status, 400);
    assert.equal(badLoad.body.errors[0]?.path, '/load/nope');
  });

  test('a viewer may ask what-if but not save the plan', async () => {
    const { token } = await t.controller.auth.createToken('viewer', 'viewer', Date.now());
    const call = (method: string, path: string, body: unknown) =>
      fetch(`${t.controller.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.status);
    assert.equal(await call('POST', '/api/v1/plan/what-if', { plan }), 200);
    assert.equal(await call('PUT', '/api/v1/plan', plan), 403);
  });

  test('an agent that leaves shows as disconnected with when it was last seen; hosts it relays for are not ready', async () => {
    const client = await LiveClient.open(t.controller.url, t.token);
    try {
      await client.next('snapshot', (m) => m.type === 'snapshot');
      agents.get('app')!.stop();
      await waitFor(
        () => {
          const app = client.latestState()?.hosts.find((h) => h.id === 'app');
          return app?.agent?.connected === false && app.agent.lastSeenAt !== null;
        },
        { timeoutMs: 15_000, what: 'app shown as disconnected' },
      );
      const { body } = await t.api<{
        hosts: Array<{ id: string; wake: { ready: boolean; detail: string } | null }>;
      }>('GET', '/api/v1/readiness');
      const printer = body.hosts.find((h) => h.id === 'printer')!;
      assert.equal(printer.wake?.ready, false, 'its relay agent is gone');
      assert.match(printer.wake!.detail, /app is not connected/);
    } finally {
      client.close();
    }
  });
});
