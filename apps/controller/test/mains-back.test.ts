/**
 * Two sources at once, and mains returning in the middle of a shutdown: the agent still running
 * its hook is sent a signed cancel and stops, the nut-client that has not left yet has its FSD
 * withdrawn, and nothing goes down. Both UPSes are served on the NUT server under their own names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NutClient } from '@blackstart/nut-protocol';
import { indexOfEvent, waitFor } from '@blackstart/tests';
import type { SimulatorSource } from '../src/sources/simulator.ts';
import { startTestController, type TestController } from './helpers.ts';

describe('mains back in the middle of a shutdown', () => {
  let t: TestController;
  let appliance: NutClient;

  before(async () => {
    t = await startTestController({
      sources: [
        { id: 'main', type: 'simulator', interval: 0.2 },
        { id: 'aux', type: 'simulator', interval: 0.2, load: 60 },
      ],
      nutServer: {
        host: ['127.0.0.1'],
        port: 0,
        users: [{ name: 'nas', password: 'naspass' }],
        clients: { nas: { user: 'nas' } },
      },
      plan: {
        ups: [{ id: 'main' }, { id: 'aux' }],
        hosts: [
          {
            id: 'app',
            kind: 'agent',
            supplies: ['main'],
            shutdown: {
              hooks: [{ type: 'command', name: 'slow stop', run: 'sleep 3', timeout: 30 }],
              timeout: 60,
              pointOfNoReturn: 'powering-off',
            },
          },
          {
            id: 'nas',
            kind: 'nut-client',
            supplies: ['main'],
            shutdown: { timeout: 60, pointOfNoReturn: 'powering-off' },
          },
          { id: 'other', kind: 'agent', supplies: ['aux'], shutdown: { timeout: 60 } },
        ],
        settings: { debounce: 1, mainsBackAfter: 1, defaultTriggers: [{ type: 'on-battery', after: 1 }] },
        restore: { mainsStableFor: 1, minCharge: 0 },
      },
    });
    await t.agent('app');
    await t.agent('other');
    // An appliance that is slow to act on FSD: it is still logged in when mains returns.
    appliance = new NutClient({
      host: '127.0.0.1',
      port: t.controller.nut!.port,
      reconnect: false,
      session: { username: 'nas', password: 'naspass', login: 'main' },
    });
    await appliance.connect();
  });
  after(async () => {
    appliance?.close();
    await t?.close();
  });

  test('the agent is cancelled, the FSD withdrawn, the other UPS never involved', async () => {
    const { controller } = t;
    const main = controller.sources.get('main') as SimulatorSource;
    const listed = await appliance.listUps();
    assert.deepEqual(listed.map((u) => u.name).sort(), ['aux', 'main']);
    await waitFor(async () => (await appliance.getVar('aux', 'ups.load')) === '60', { what: 'aux served' });

    const ended = new Promise<{ outage: string; outcome: string }>((resolve) =>
      controller.runtime.once('outage-ended', resolve),
    );
    main.setMains(false);
    // nas waits for nothing here: it is commanded with app; app is still in its hook.
    await waitFor(async () => (await appliance.getVar('main', 'ups.status')).startsWith('FSD'), {
      timeoutMs: 15_000,
      what: 'FSD for the appliance',
    });
    assert.equal(await appliance.getVar('aux', 'ups.status'), 'OL', 'only the UPS that feeds it');
    main.setMains(true);
    const { outage, outcome } = await ended;
    if (process.env.DUMP)
      for (const e of (await t.timeline(outage)).events)
        if (e.kind !== 'ups-status')
          console.log(
            e.seq,
            e.at.slice(14, 23),
            e.kind,
            e.host ?? e.source,
            JSON.stringify(e.data).slice(0, 150),
          );
    assert.equal(outcome, 'averted');
    assert.doesNotMatch(await appliance.getVar('main', 'ups.status'), /FSD/, 'FSD withdrawn');

    const timeline = await t.timeline(outage);
    const at = (kind: string, where: Parameters<typeof indexOfEvent>[2]) => {
      const i = indexOfEvent(timeline, kind, where);
      assert.ok(i >= 0, `${kind} ${JSON.stringify(where)} missing`);
      return i;
    };
    assert.ok(
      at('cancel-shutdown', { host: 'app' }) < at('host-progress', { host: 'app', step: 'cancelled' }),
    );
    assert.ok(
      at('cancel-shutdown', { host: 'nas' }) < at('note', { host: 'nas', message: /^FSD withdrawn$/ }),
    );
    at('host-cancelled', { host: 'app' });
    at('host-cancelled', { host: 'nas' });
    assert.equal(indexOfEvent(timeline, 'host-down', {}), -1, 'nothing went down');
    assert.equal(
      indexOfEvent(timeline, 'shutdown-host', { host: 'other' }),
      -1,
      'the host on the other UPS stayed',
    );
    assert.deepEqual(t.dryRuns('app'), []);
    assert.deepEqual(timeline.sources, ['main']);
  });
});
