/**
 * Power sources against real peers: the NUT source against Debian's upsd + dummy-ups and against
 * NutServer (commands, tracking, STARTTLS with a pinned certificate), the HID source against the
 * hid-driver's replayed CyberPower, and the simulator's scripts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HidUps, openReplay, ReplayDevice } from '@blackstart/hid-driver';
import { hashPassword, NutServer } from '@blackstart/nut-protocol';
import { NUT_LAB_TOOLS, NutLab, needs, tempDir, waitFor } from '@blackstart/tests';
import { CYBERPOWER_DEVICE, cyberPower } from '../../../packages/hid-driver/test/fixtures.ts';
import { parseConfig, type SourceConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { loadOrCreateCertificate } from '../src/security/tls.ts';
import { HidSource, NutSource, type NutVars, SimulatorSource } from '../src/sources/index.ts';

const log = createLogger({ level: 'silent' });

function source<T extends SourceConfig['type']>(entry: { id: string; type: T } & Record<string, unknown>) {
  const config = parseConfig({ sources: [entry], plan: { ups: [{ id: entry.id }] } }, {});
  return config.sources[0] as Extract<SourceConfig, { type: T }>;
}

/** Collects what a source reports. */
function listen() {
  const readings: NutVars[] = [];
  const lost: string[] = [];
  return {
    readings,
    lost,
    listener: { reading: (v: NutVars) => readings.push(v), lost: (r: string) => lost.push(r) },
    last: () => readings.at(-1),
  };
}

describe('NUT source against real upsd 2.8', needs(...NUT_LAB_TOOLS), () => {
  let lab: NutLab;
  before(async () => {
    lab = await NutLab.start();
  });
  after(() => lab?.stop());

  test('readings are the server’s variables; a dead driver is "no data"; the UPS’s commands are reported', async () => {
    const nut = new NutSource(
      source({
        id: 'ups',
        type: 'nut',
        host: lab.host,
        port: lab.port,
        username: 'monuser',
        password: 'secret',
        interval: 0.2,
      }),
      log,
    );
    const seen = listen();
    await nut.start(seen.listener);
    try {
      await waitFor(() => seen.last()?.['ups.status'] === 'OL', { what: 'an OL reading' });
      assert.equal(seen.last()?.['device.model'], 'Back-UPS BX1600MI');
      assert.equal(nut.status().state, 'data');
      // dummy-ups offers only load.off: the controller says so before any outage.
      const caps = await nut.capabilities();
      assert.deepEqual(
        [caps.known, caps.commands, caps.restore, caps.powerOffCommand],
        [true, ['load.off'], 'none', undefined],
      );
      await assert.rejects(nut.powerOff(30), /cannot be powered off by Blackstart/);

      await lab.setStatus('OB DISCHRG');
      await waitFor(() => seen.last()?.['ups.status'] === 'OB DISCHRG', { what: 'an OB reading' });

      await lab.killDriver();
      await waitFor(() => seen.lost.length > 0, { timeoutMs: 20_000, what: 'no data' });
      assert.match(seen.lost[0]!, /^(DRIVER-NOT-CONNECTED|DATA-STALE|WAIT)$/);
      assert.equal(nut.status().state, 'no-data');
    } finally {
      await nut.stop();
    }
  });
});

describe('NUT source power commands against NutServer', () => {
  const dir = tempDir();
  let server: NutServer;
  let fingerprint: string;
  const requests: string[] = [];
  let refuse = false;

  before(async () => {
    const cert = await loadOrCreateCertificate(dir.path, ['127.0.0.1']);
    fingerprint = cert.fingerprint;
    server = new NutServer({
      host: '127.0.0.1',
      port: 0,
      tls: { key: cert.key, cert: cert.cert },
      users: [
        { name: 'admin', passwordHash: hashPassword('adminpass'), instcmds: ['ALL'], actions: ['SET'] },
      ],
      onInstcmd: async ({ command, parameter }) => {
        if (refuse) throw new Error('refused');
        requests.push(`INSTCMD ${command}${parameter ? ` ${parameter}` : ''}`);
      },
      onSetVar: async ({ name, value }) => {
        requests.push(`SET ${name} ${value}`);
        server.setVars('ups', { [name]: value });
      },
    });
    server.addUps('ups', {
      vars: { 'ups.status': 'OL', 'ups.delay.shutdown': '20', 'battery.charge': '100' },
      info: { 'ups.delay.shutdown': { writable: true, maxLength: 10 } },
      commands: ['load.off', 'load.off.delay', 'load.on', 'shutdown.return', 'shutdown.stayoff'],
    });
    await server.listen();
  });
  after(async () => {
    await server?.close();
    dir.remove();
  });

  test('over STARTTLS with a pinned certificate: sets the delay, sends shutdown.return and tracks both', async () => {
    const nut = new NutSource(
      source({
        id: 'ups',
        type: 'nut',
        host: '127.0.0.1',
        port: server.port,
        username: 'admin',
        password: 'adminpass',
        tls: { mode: 'require', fingerprint, servername: '127.0.0.1' },
      }),
      log,
    );
    const seen = listen();
    await nut.start(seen.listener);
    try {
      await waitFor(() => seen.last(), { what: 'a reading over TLS' });
      assert.ok(
        server.clients().some((c) => c.tls),
        'the session is encrypted',
      );
      const caps = await nut.capabilities();
      assert.deepEqual(
        [caps.restore, caps.powerOffCommand, caps.shutdownReturn, caps.loadOffDelay, caps.shutdownReboot],
        ['power-cycle', 'shutdown.return', true, true, false],
      );
      const what = await nut.powerOff(45);
      assert.deepEqual(requests, ['SET ups.delay.shutdown 45', 'INSTCMD shutdown.return']);
      assert.match(
        what,
        /ups\.delay\.shutdown set to 45 s \(SUCCESS\); INSTCMD shutdown\.return \(SUCCESS\)/,
      );

      assert.match(await nut.powerOn(), /output already on/);
      server.setVars('ups', { 'ups.status': 'OL OFF' });
      assert.match(await nut.powerOn(), /INSTCMD load\.on \(SUCCESS\)/);

      refuse = true;
      await assert.rejects(nut.powerOff(45), /FAILED/);
    } finally {
      refuse = false;
      await nut.stop();
    }
  });

  test('a wrong pin never gets a session; a UPS with only load.off.delay is reported as needing a manual restart', async () => {
    const pinned = new NutSource(
      source({
        id: 'ups',
        type: 'nut',
        host: '127.0.0.1',
        port: server.port,
        tls: { mode: 'require', fingerprint: `sha256:${'00'.repeat(32)}` },
      }),
      log,
    );
    const seen = listen();
    await pinned.start(seen.listener);
    await waitFor(() => seen.lost.length > 0, { what: 'no data with a wrong pin' });
    assert.equal(seen.readings.length, 0);
    await pinned.stop();

    server.setCommands('ups', ['load.off.delay', 'load.on']);
    const plain = new NutSource(
      source({ id: 'ups', type: 'nut', host: '127.0.0.1', port: server.port, tls: { mode: 'off' } }),
      log,
    );
    const other = listen();
    await plain.start(other.listener);
    try {
      await waitFor(() => other.last(), { what: 'a reading' });
      const caps = await plain.capabilities();
      assert.deepEqual([caps.restore, caps.powerOffCommand], ['manual', 'load.off.delay']);
      assert.match(caps.summary, /stays off until someone switches it on/);
    } finally {
      await plain.stop();
    }
  });
});

describe('HID source', () => {
  const builder = cyberPower();
  const fixture = () => builder.fixture(CYBERPOWER_DEVICE, 'synthetic CP1500PFCLCD');

  test('interrupts become readings at once; unplugging is "no data"; power-off runs shutdown.return with the delay', async () => {
    const device = new ReplayDevice(fixture(), { playInputs: false });
    let opened: HidUps | undefined;
    const hid = new HidSource(source({ id: 'usb', type: 'hid', interval: 0.2 }), log, async (options) => {
      opened = await openReplay(device, options);
      return opened;
    });
    const seen = listen();
    await hid.start(seen.listener);
    try {
      assert.equal(seen.last()?.['ups.status'], 'OL');
      const caps = await hid.capabilities();
      assert.equal(caps.restore, 'power-cycle');
      assert.ok(caps.commands.includes('load.off.delay') && caps.commands.includes('shutdown.return'));

      const before = seen.readings.length;
      device.injectInput(builder.inputReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 }));
      await waitFor(() => seen.readings.slice(before).some((r) => r['ups.status'] === 'OB DISCHRG'), {
        what: 'the on-battery interrupt as a reading',
      });

      const what = await hid.powerOff(40);
      assert.match(what, /shutdown\.return 40 s/);
      assert.equal(opened?.variables()['ups.timer.shutdown'], '40');

      device.unplug();
      await waitFor(() => seen.lost.some((r) => r.startsWith('unplugged')), {
        what: 'no data when unplugged',
      });
      assert.equal(hid.status().state, 'no-data');
      await assert.rejects(hid.powerOn(), /not connected/);
    } finally {
      await hid.stop();
    }
  });

  test('a UPS that cannot be opened is "no data", and is opened once it is there', async () => {
    let attempts = 0;
    const hid = new HidSource(source({ id: 'usb', type: 'hid' }), log, async (options) => {
      attempts++;
      if (attempts === 1) throw new Error('no UPS found');
      return HidUps.open(new ReplayDevice(fixture(), { playInputs: false }).opener(), options);
    });
    const seen = listen();
    await hid.start(seen.listener);
    try {
      assert.deepEqual(seen.lost, ['no UPS found']);
      await waitFor(() => seen.last()?.['ups.status'] === 'OL', {
        timeoutMs: 10_000,
        what: 'the reopened UPS',
      });
      assert.equal(attempts, 2);
    } finally {
      await hid.stop();
    }
  });
});

describe('simulator source', () => {
  test('plays its script: mains fails, the battery drains faster under more load, data stops and resumes', async () => {
    let now = 0;
    const sim = new SimulatorSource(
      source({
        id: 'ups',
        type: 'simulator',
        interval: 60,
        load: 20,
        runtimeAtLoad: 1000,
        script: [{ at: 0, mains: false }],
      }),
      () => now,
    );
    const seen = listen();
    await sim.start(seen.listener);
    try {
      assert.equal(seen.last()?.['ups.status'], 'OB DISCHRG');
      now = 100_000;
      sim.emit();
      assert.equal(seen.last()?.['battery.charge'], '90');
      sim.apply({ load: 40 });
      now = 200_000;
      sim.emit();
      // Twice the load: 100 s now take 100 / (1000 · 0.5^1.3) of the battery ≈ 24.6 %.
      assert.equal(seen.last()?.['battery.charge'], '65');
      sim.apply({ lost: true });
      const count = seen.readings.length;
      sim.emit();
      assert.deepEqual(
        [seen.lost, seen.readings.length, sim.status().state],
        [['simulated loss of data'], count, 'no-data'],
      );
      sim.apply({ lost: false, mains: true });
      assert.match(seen.last()!['ups.status']!, /^OL/);
      assert.match(await sim.powerOff(10), /shutdown\.return/);
      assert.equal((await sim.capabilities()).restore, 'power-cycle');
    } finally {
      await sim.stop();
    }
  });
});
