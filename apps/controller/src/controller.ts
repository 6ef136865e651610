import { join, resolve } from 'node:path';
import { type EngineState, isOnBattery, learnedDurations } from '@blackstart/policy';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { type Config, tlsMode } from './config.ts';
import {
  AgentStore,
  ApiTokenStore,
  DrillStore,
  type OpenDatabase,
  openDatabase,
  TimelineStore,
} from './db/index.ts';
import { DrillRunner } from './drill/drill.ts';
import { AgentHub } from './hub/agent-hub.ts';
import { type ControllerIdentity, loadOrCreateIdentity } from './identity.ts';
import { createJobQueue, type JobQueue } from './jobs/queue.ts';
import { LiveFeed } from './live/live-feed.ts';
import type { Logger } from './logger.ts';
import { Notifier, timelineLink } from './notifications/index.ts';
import { ControllerNutServer } from './nut/nut-server.ts';
import { PlanStore } from './plan-store.ts';
import { Executor } from './runtime/executor.ts';
import { JournalFlusher } from './runtime/flusher.ts';
import { Cursor, Journal } from './runtime/journal.ts';
import { Runtime } from './runtime/runtime.ts';
import { Auth } from './security/auth.ts';
import { loadOrCreateCertificate, readCertificateFiles, type TlsMaterial } from './security/tls.ts';
import { createSource, type PowerSource, type SourceCapabilities } from './sources/index.ts';

export interface Controller {
  config: Config;
  identity: ControllerIdentity;
  app: FastifyInstance;
  runtime: Runtime;
  hub: AgentHub;
  agents: AgentStore;
  timeline: TimelineStore;
  flusher: JournalFlusher;
  queue: JobQueue;
  database: OpenDatabase;
  sources: Map<string, PowerSource>;
  /** What each source's UPS offers for powering off (known once it has answered). */
  capabilities: Map<string, SourceCapabilities>;
  nut: ControllerNutServer | undefined;
  drills: DrillRunner;
  plans: PlanStore;
  auth: Auth;
  notifier: Notifier;
  /** The HTTPS certificate, unless TLS is off. */
  tls: TlsMaterial | undefined;
  /** The URL the controller listens on, once `listen` resolved. */
  url: string;
  close(): Promise<void>;
}

/**
 * Assembles and starts a controller: data directory, identity, database (migrated), job queue,
 * journal, agent hub, NUT server, sources, executor and runtime, then the HTTP server.
 */
export async function startController(
  config: Config,
  log: Logger,
  options: { listen?: boolean } = {},
): Promise<Controller> {
  const dataDir = resolve(config.dataDir);
  const identity = await loadOrCreateIdentity(dataDir);
  // The outage path never waits on PostgreSQL: unreachable at start, it is retried in the
  // background while the controller runs from its journal and local copies.
  const database = await openDatabase(
    config.database.url ? { url: config.database.url } : { pgliteDir: join(dataDir, 'db') },
    {
      whenUnreachable: 'retry',
      onRetry: (error) =>
        log.warn(
          { err: error.message },
          'database unreachable: starting without it, retrying in the background',
        ),
    },
  );
  if (!database.isReady)
    void database.ready.then(
      () => log.info('database reachable again: migrations applied'),
      (error: unknown) => log.error({ err: error }, 'database migrations failed'),
    );
  const timeline = new TimelineStore(database.db);
  const agents = new AgentStore(database.db, join(dataDir, 'agents.json'));
  const auth = await Auth.create({
    dataDir,
    identity,
    databaseReady: database.isReady,
    store: new ApiTokenStore(database.db, join(dataDir, 'api-tokens.json')),
    adminPassword: config.auth.adminPassword,
    viewerPassword: config.auth.viewerPassword,
    sessionHours: config.auth.sessionHours,
  });
  const mode = tlsMode(config);
  const names = [
    config.server.host,
    ...(config.server.publicUrl ? [new URL(config.server.publicUrl).hostname] : []),
  ].filter((n) => n !== '0.0.0.0' && n !== '::');
  const tls =
    mode === 'self-signed'
      ? await loadOrCreateCertificate(dataDir, names)
      : mode === 'files'
        ? readCertificateFiles(config.server.tls!.cert!, config.server.tls!.key!)
        : undefined;
  const queue = createJobQueue(config.redis.url, log, { prefix: config.redis.prefix });
  queue.register('agent-seen', async (data) => {
    const { host, at } = data as { host: string; at: number };
    await agents.markSeen(host, new Date(at));
  });

  const plans = PlanStore.open(dataDir, config.plan, log);
  const journal = Journal.open(join(dataDir, 'journal'));
  const flusher = new JournalFlusher(
    journal,
    new Cursor(join(dataDir, 'journal', 'flushed-seq')),
    timeline,
    log,
  );
  const sources = new Map<string, PowerSource>();
  for (const source of config.sources) sources.set(source.id, createSource(source, log));
  const active = plans.current;
  const runtime = new Runtime({
    plan: active.plan,
    planVersion: {
      lineage: active.lineage,
      version: active.version,
      origin: active.origin,
      ...(active.author !== undefined && { author: active.author }),
      announce: plans.changedAtStart,
    },
    journal,
    flusher,
    sources,
    log,
  });

  // Created before anything can happen, so BullMQ jobs left by a previous run find their handler.
  let url = '';
  const notifier = new Notifier({
    config: config.notifications,
    queue,
    log: log.child({ component: 'notifications' }),
    plan: active.plan,
    stateFile: join(dataDir, 'notifications.json'),
    // The URL is known once the server listens: read it late.
    timelineUrl: (outage) => (url ? timelineLink(url)(outage) : undefined),
  });
  runtime.on('action', (action) => notifier.action(action));
  runtime.on('reading', ({ source, reading }) => notifier.reading(source, reading));
  runtime.on('lost', ({ source, reason }) => notifier.sourceLost(source, reason));
  runtime.on('plan-applied', (plan) => notifier.setPlan(plan, learnedDurations(runtime.engineState)));
  notifier.on('failed', (f) =>
    runtime.note(`notification to ${f.channel} failed after ${f.attempts} attempt(s): ${f.error}`, {
      ...(f.notification.outage && { outage: f.notification.outage }),
      data: { channel: f.channel, event: f.notification.kind, notification: f.notification.id },
    }),
  );

  let drills: DrillRunner | undefined;
  const hub = new AgentHub(
    identity,
    {
      ack: (host, ack) => {
        if (drills?.onAck(host, ack)) return;
        const detail = [ack.hook, ack.detail].filter(Boolean).join(': ') || undefined;
        // A Wake-on-LAN relay powers nothing off: its outcome is a note, not a step of the host.
        if (ack.commandId.includes(':relay:')) {
          if (ack.step === 'done' || ack.step === 'failed')
            runtime.note(`relay ${ack.step === 'done' ? 'finished' : 'FAILED'}: ${detail ?? ''}`, { host });
          return;
        }
        if (ack.step !== 'done') runtime.hostProgress(host, ack.commandId, ack.step, detail);
      },
      connected: (host, info) => {
        log.info({ host, ...info }, 'agent connected');
        void queue.add('agent-seen', { host, at: Date.now() }, { attempts: 3, backoffMs: 2000 });
        if (runtime.engineState.outage) runtime.note('agent connected', { host, data: { ...info } });
        runtime.hostHealthy(host);
        notifier.agentConnected(host);
      },
      disconnected: (host) => {
        log.info({ host }, 'agent disconnected');
        void queue.add('agent-seen', { host, at: Date.now() }, { attempts: 3, backoffMs: 2000 });
        if (runtime.engineState.outage) runtime.note('agent disconnected', { host });
        notifier.agentDisconnected(host);
      },
    },
    log,
  );
  for (const agent of await agents.trusted(database.isReady))
    await hub.trustAgent(agent.host, agent.publicJwk);

  // STARTTLS on the NUT server uses the controller's certificate (made for it when HTTPS is off).
  const nutTls = config.nutServer?.tls && !tls ? await loadOrCreateCertificate(dataDir, names) : tls;
  const nut = config.nutServer
    ? new ControllerNutServer(
        config.nutServer,
        [...sources.keys()],
        () => runtime.plan,
        {
          healthy: (host) => runtime.hostHealthy(host),
          poweringOff: (host, commandId, detail) =>
            runtime.hostProgress(host, commandId, 'powering-off', detail),
        },
        log,
        nutTls,
      )
    : undefined;

  // Readings go to the engine (runtime), to NUT clients and, summarised, to agents.
  const capabilities = new Map<string, SourceCapabilities>();
  runtime.on('reading', ({ source, vars }) => {
    nut?.update(source, vars);
    hub.broadcastUpsState(upsSummary(runtime.engineState));
    if (!capabilities.get(source)?.known) void detectCapabilities(source);
  });
  runtime.on('lost', ({ source }) => nut?.lost(source));
  const detecting = new Set<string>();
  /** Before any outage: can this UPS be power-cycled? Reported once it answers. */
  async function detectCapabilities(id: string): Promise<void> {
    const source = sources.get(id);
    if (!source || detecting.has(id)) return;
    detecting.add(id);
    try {
      const caps = await source.capabilities();
      if (!caps.known) return;
      capabilities.set(id, caps);
      const ups = runtime.plan.ups.find((u) => u.id === id);
      const wanted = ups?.powerOff.enabled !== false;
      const fields = { source: id, commands: caps.commands, powerOff: caps.powerOffCommand };
      if (wanted && caps.restore !== 'power-cycle') log.warn(fields, `UPS ${id} ${caps.summary}`);
      else log.info(fields, `UPS ${id} ${caps.summary}`);
    } catch (error) {
      log.warn({ source: id, err: (error as Error).message }, 'cannot ask the UPS which commands it offers');
    } finally {
      detecting.delete(id);
    }
  }

  const executor = new Executor({
    runtime,
    hub,
    nut,
    sources,
    queue,
    controllerHost: config.controllerHost,
    wake: config.wake,
    log,
  });
  drills = new DrillRunner({
    hub,
    runtime,
    sources,
    controllerHost: config.controllerHost,
    store: new DrillStore(database.db),
    planVersion: () => plans.current.version,
    log,
  });
  const drillRunner = drills;
  runtime.on('action', (action) => {
    if (action.type === 'outage-started') drillRunner.abort('a real outage started');
  });

  const live = new LiveFeed({
    runtime,
    hub,
    sources,
    capabilities,
    agents,
    drills: drillRunner,
    notifier,
    plans,
    log,
  });

  const app = await buildApp({
    controllerId: identity.id,
    controllerKey: identity.keys.publicJwk as { kty: string; crv: string; x: string },
    config,
    timeline,
    agents,
    hub,
    auth,
    tls,
    runtime,
    plans,
    drills: drillRunner,
    sources,
    capabilities,
    nutPort: () => nut?.port,
    notifier,
    live,
    databaseKind: database.kind,
    queueKind: queue.kind,
    journalStatus: () => ({ lastSeq: journal.lastSeq, pendingFlush: flusher.pending }),
    logger: log,
  });

  if (nut) await nut.listen();
  notifier.start();
  await runtime.start(executor);
  notifier.setPlan(runtime.plan, learnedDurations(runtime.engineState));
  if (options.listen !== false) {
    await app.listen({ host: config.server.host, port: config.server.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.server.port;
    const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
    const scheme = tls ? 'https' : 'http';
    url =
      config.server.publicUrl ??
      `${scheme}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    identity,
    app,
    runtime,
    hub,
    agents,
    timeline,
    flusher,
    queue,
    database,
    sources,
    capabilities,
    nut,
    drills: drillRunner,
    plans,
    auth,
    notifier,
    tls,
    url,
    close: () =>
      (closing ??= (async () => {
        drillRunner.abort('the controller is stopping');
        await runtime.stop();
        live.close();
        await hub.close();
        await nut?.close();
        await app.close();
        await flusher.close();
        await queue.close();
        await notifier.close();
        journal.close();
        await database.close();
      })()),
  };
}

/**
 * What agents are told about the power: on battery when any UPS of the plan is, with the lowest
 * charge and runtime among the UPSes on battery (or among all, on mains).
 */
function upsSummary(state: EngineState): { onBattery: boolean; charge?: number; runtime?: number } {
  const readings = Object.values(state.sources).flatMap((s) => (s.reading ? [s.reading] : []));
  const onBattery = readings.filter((r) => isOnBattery(r));
  const pool = onBattery.length > 0 ? onBattery : readings;
  const min = (values: Array<number | undefined>) => {
    const known = values.filter((v): v is number => v !== undefined);
    return known.length > 0 ? Math.min(...known) : undefined;
  };
  const charge = min(pool.map((r) => r.charge));
  const runtime = min(pool.map((r) => r.runtime));
  return {
    onBattery: onBattery.length > 0,
    ...(charge !== undefined && { charge }),
    ...(runtime !== undefined && { runtime }),
  };
}
