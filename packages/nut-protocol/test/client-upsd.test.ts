import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NUT_LAB_TOOLS, NutLab, needs, waitFor } from '../../../tests/harness/index.ts';
import {
  isNoDataError,
  NutClient,
  type NutClientOptions,
  NutError,
  NutPoller,
  type NutPollerState,
  NutTransportError,
} from '../src/index.ts';

const code = (expected: string) => (e: unknown) => e instanceof NutError && e.code === expected;

describe('NutClient against real upsd 2.8.0 + dummy-ups', needs(...NUT_LAB_TOOLS, 'certutil'), () => {
  let lab: NutLab;
  let base: NutClientOptions;
  const clients: NutClient[] = [];
  const open = async (extra: Partial<NutClientOptions> = {}) => {
    const client = await NutClient.connect({ ...base, ...extra });
    clients.push(client);
    return client;
  };

  before(async () => {
    // MAXAGE 5: a paused driver turns DATA-STALE within seconds instead of 15+.
    lab = await NutLab.start({ upsdConf: ['MAXAGE 5'] });
    base = { host: lab.host, port: lab.port, reconnect: false };
  });
  after(async () => {
    for (const c of clients) c.close();
    await lab?.stop();
  });

  test('every read request', async () => {
    const c = await open();
    assert.match(await c.ver(), /^Network UPS Tools upsd 2\.8\.0 - /);
    assert.equal(await c.netver(), '1.3');
    assert.equal(await c.protver(), '1.3');
    assert.match(
      await c.help(),
      /^Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS$/,
    );
    assert.deepEqual(await c.listUps(), [{ name: 'ups', description: 'Back-UPS BX1600MI (dummy)' }]);
    const vars = await c.listVars('ups');
    assert.equal(vars['device.model'], 'Back-UPS BX1600MI');
    assert.equal(vars['ups.test.result'], 'Done and passed');
    assert.equal(vars['driver.name'], 'dummy-ups');
    assert.deepEqual(Object.keys(vars), Object.keys(vars).sort(), 'upsd lists alphabetically');
    assert.equal(await c.getVar('ups', 'battery.charge'), '100');
    assert.equal(await c.getVar('UPS', 'Ups.Status'), 'OL', 'names are case-insensitive on upsd');
    assert.equal(await c.getVar('anything', 'server.version'), '2.8.0');
    assert.deepEqual(await c.getType('ups', 'ups.test.result'), {
      writable: true,
      enum: false,
      range: false,
      number: false,
      maxLength: 16,
      words: ['RW', 'STRING:16'],
    });
    assert.equal((await c.getType('ups', 'driver.name')).writable, false);
    assert.equal(await c.getDesc('ups', 'battery.charge'), 'Battery charge (percent of full)');
    assert.equal(await c.getCmdDesc('ups', 'load.off'), 'Turn off the load immediately');
    assert.equal(await c.getUpsDesc('ups'), 'Back-UPS BX1600MI (dummy)');
    assert.equal(await c.getNumLogins('ups'), 0);
    assert.ok(Object.keys(await c.listRw('ups')).includes('ups.status'), 'dummy-ups marks its variables RW');
    assert.deepEqual(await c.listCmds('ups'), ['load.off']);
    assert.deepEqual(await c.listEnum('ups', 'ups.status'), []);
    assert.deepEqual(await c.listRange('ups', 'battery.charge'), []);
    assert.deepEqual(await c.listClients('ups'), []);
    assert.equal(await c.getTracking(), false);
  });

  test('a primary session: LOGIN, PRIMARY, tracked SET VAR and INSTCMD', async () => {
    const c = await open({
      session: { username: 'monuser', password: 'secret', login: 'ups', primary: true },
    });
    const watcher = await open();
    assert.equal(await watcher.getNumLogins('ups'), 1);
    assert.deepEqual(await watcher.listClients('ups'), ['127.0.0.1']);
    assert.equal(await c.primary('ups'), 'PRIMARY');
    await c.master('ups');
    await assert.rejects(c.login('ups'), code('ALREADY-LOGGED-IN'));
    await c.setTracking(true);
    assert.equal(await c.getTracking(), true);
    const set = await c.setVar('ups', 'ups.test.result', 'Done and passed');
    assert.match(set.tracking ?? '', /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    await waitFor(async () => (await c.getTrackingResult(set.tracking ?? '')) === 'SUCCESS', {
      timeoutMs: 10_000,
      what: 'the driver to confirm SET VAR',
    });
    // dummy-ups rejects every instant command: upsd says OK (forwarded), tracking tells the truth.
    const cmd = await c.instcmd('ups', 'load.off', '5');
    assert.ok(cmd.tracking);
    await waitFor(async () => c.getTrackingResult(cmd.tracking ?? '').then(() => false, code('UNKNOWN')), {
      timeoutMs: 10_000,
      what: 'the driver to reject load.off',
    });
    await c.setTracking(false);
    assert.deepEqual(await c.setVar('ups', 'ups.test.result', 'Done and passed'), {});
  });

  test('errors: unknown UPS or variable, wrong password, missing rights, no credentials', async () => {
    const c = await open();
    await assert.rejects(c.getVar('nosuchups', 'ups.status'), code('UNKNOWN-UPS'));
    await assert.rejects(c.listVars('nosuchups'), code('UNKNOWN-UPS'));
    await assert.rejects(c.getVar('ups', 'no.such.var'), code('VAR-NOT-SUPPORTED'));
    await assert.rejects(c.getType('ups', 'no.such.var'), code('VAR-NOT-SUPPORTED'));
    await assert.rejects(c.login('ups'), code('USERNAME-REQUIRED'));
    await assert.rejects(c.setTracking(true), code('USERNAME-REQUIRED'));

    await assert.rejects(
      open({ session: { username: 'monuser', password: 'wrong', login: 'ups' } }),
      code('ACCESS-DENIED'),
    );
    await assert.rejects(
      open({ session: { username: 'nobody', password: 'secret', login: 'ups' } }),
      code('ACCESS-DENIED'),
    );

    const secondary = await open({ session: { username: 'secuser', password: 'secpass', login: 'ups' } });
    await assert.rejects(secondary.primary('ups'), code('ACCESS-DENIED')); // PRIMARY, then MASTER: both denied
    await assert.rejects(secondary.fsd('ups'), code('ACCESS-DENIED'));
    await assert.rejects(secondary.setVar('ups', 'ups.test.result', 'x'), code('ACCESS-DENIED'));
    await assert.rejects(secondary.instcmd('ups', 'load.off'), code('ACCESS-DENIED'));
    await assert.rejects(secondary.instcmd('ups', 'no.such.cmd'), code('CMD-NOT-SUPPORTED'));
    await assert.rejects(
      secondary.startTls(),
      (e) => e instanceof NutTransportError && e.reason === 'tls' && code('FEATURE-NOT-CONFIGURED')(e.cause),
    );
    assert.equal(await secondary.getVar('ups', 'ups.status'), 'OL', 'errors leave the session usable');
  });

  test('status flips OL -> OB -> OB LB from the .dev file reach the poller in order', async () => {
    const poller = new NutPoller({ ups: 'ups', intervalMs: 250, client: await open() });
    const statuses: string[] = [];
    poller.on('change', ({ reading, changed }) => {
      if (changed.includes('ups.status')) statuses.push(reading.vars['ups.status'] ?? '');
    });
    poller.start();
    try {
      await waitFor(() => statuses.length === 1, { timeoutMs: 5000, what: 'the first reading' });
      await lab.setVars({ 'ups.status': 'OB DISCHRG', 'battery.charge': '60' });
      await waitFor(() => statuses.length === 2, { timeoutMs: 10_000, what: 'OB' });
      assert.equal(poller.reading?.status.onBattery, true);
      assert.equal(poller.reading?.vars['battery.charge'], '60');
      await lab.setStatus('OB DISCHRG LB');
      await waitFor(() => statuses.length === 3, { timeoutMs: 10_000, what: 'OB LB' });
      assert.equal(poller.reading?.status.critical, true);
      await lab.setVars({ 'ups.status': 'OL', 'battery.charge': '100' });
      await waitFor(() => statuses.length === 4, { timeoutMs: 10_000, what: 'OL' });
      assert.deepEqual(statuses, ['OL', 'OB DISCHRG', 'OB DISCHRG LB', 'OL']);
    } finally {
      poller.stop();
    }
  });

  test('a killed driver and a stalled driver are "no data", never an outage', async () => {
    const client = await open();
    const poller = new NutPoller({ ups: 'ups', intervalMs: 250, client });
    const states: NutPollerState[] = [];
    poller.on('state', (s) => states.push(s));
    poller.start();
    // upsd serves ups.status "WAIT" until a (re)connected driver's first dump: also "no data".
    const reasons = () =>
      states.map((s) => (s.state === 'data' ? 'data' : s.reason)).filter((r) => r !== 'WAIT');
    try {
      await waitFor(() => poller.state?.state === 'data', { timeoutMs: 5000, what: 'data' });
      await lab.killDriver();
      await waitFor(() => reasons().includes('DRIVER-NOT-CONNECTED'), {
        timeoutMs: 10_000,
        what: 'no driver',
      });
      const error = await client.getVar('ups', 'ups.status').catch((e: unknown) => e);
      assert.ok(isNoDataError(error) && error instanceof NutError && error.code === 'DRIVER-NOT-CONNECTED');
      assert.equal(await client.getUpsDesc('ups'), 'Back-UPS BX1600MI (dummy)', 'upsd itself still answers');
      lab.startDriver();
      await waitFor(() => reasons().at(-1) === 'data', { timeoutMs: 15_000, what: 'data after the restart' });
      assert.equal(poller.reading?.vars['ups.status'], 'OL', 'WAIT is never a reading');

      lab.pauseDriver(true);
      await waitFor(() => reasons().at(-1) === 'DATA-STALE', { timeoutMs: 20_000, what: 'DATA-STALE' });
      assert.ok(poller.reading?.status.onLine, 'the last reading is kept, and it said OL');
      lab.pauseDriver(false);
      await waitFor(() => reasons().at(-1) === 'data', { timeoutMs: 15_000, what: 'data after SIGCONT' });
      assert.deepEqual(reasons(), ['data', 'DRIVER-NOT-CONNECTED', 'data', 'DATA-STALE', 'data']);
    } finally {
      lab.pauseDriver(false);
      poller.stop();
    }
  });

  test('reconnects after upsd restarts', async () => {
    const client = new NutClient({ ...base, reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
    clients.push(client);
    await client.connect();
    let connects = 0;
    client.on('connect', () => connects++);
    await lab.restartUpsd();
    await waitFor(() => connects === 1, { timeoutMs: 15_000, what: 'a new connection' });
    assert.equal(await client.getVar('ups', 'ups.status'), 'OL');
  });

  test('STARTTLS with a real NSS certificate: verified by CA, by pinned fingerprint, refused otherwise', async () => {
    const cert = await lab.enableTls();
    const byCa = await open({
      tls: { mode: 'require', ca: cert.pem },
      session: { username: 'monuser', password: 'secret', login: 'ups' },
    });
    assert.equal(byCa.encrypted, true);
    assert.equal(await byCa.getVar('ups', 'ups.status'), 'OL');
    await assert.rejects(byCa.startTls(), /ALREADY-SSL-MODE/);
    const pinned = await open({ tls: { mode: 'require', fingerprint256: cert.fingerprint256 } });
    assert.equal(pinned.encrypted, true);
    await assert.rejects(
      open({ tls: { mode: 'require' } }),
      (e) => e instanceof NutTransportError && e.reason === 'tls' && /self-signed/.test(e.message),
    );
    await assert.rejects(
      open({ tls: { mode: 'require', fingerprint256: '00'.repeat(32) } }),
      (e) => e instanceof NutTransportError && /not the pinned one/.test(e.message),
    );
    const wrongName = open({ tls: { mode: 'require', ca: cert.pem, servername: 'nas.example' } });
    await assert.rejects(wrongName, /nas\.example/);
    assert.equal((await open()).encrypted, false, 'clear text is still served when TLS is off');
  });

  test('FSD from the primary latches on upsd (last: only a restart clears it)', async () => {
    const primary = await open({
      session: { username: 'monuser', password: 'secret', login: 'ups', primary: true },
    });
    const other = await open();
    await primary.fsd('ups');
    assert.equal(await other.getVar('ups', 'ups.status'), 'FSD OL');
    await primary.logout();
    assert.equal(await other.getVar('ups', 'ups.status'), 'FSD OL');
  });
});
