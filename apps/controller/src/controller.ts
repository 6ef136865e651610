import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { type Config, tlsMode } from './config.ts';
import { AgentStore, ApiTokenStore, type OpenDatabase, openDatabase, TimelineStore } from './db/index.ts';
import { AgentHub } from './hub/agent-hub.ts';
import { type ControllerIdentity, loadOrCreateIdentity } from './identity.ts';
import { createJobQueue, type JobQueue } from './jobs/queue.ts';
import type { Logger } from './logger.ts';
import { JournalFlusher } from './runtime/flusher.ts';
import { Cursor, Journal } from './runtime/journal.ts';
import { Runtime } from './runtime/runtime.ts';
import { Auth } from './security/auth.ts';
import { loadOrCreateCertificate, readCertificateFiles, type TlsMaterial } from './security/tls.ts';
import { SimulatorSource } from './sources/simulator.ts';
import type { PowerSource } from './sources/source.ts';

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
  auth: Auth;
  /** The HTTPS certificate, unless TLS is off. */
  tls: TlsMaterial | undefined;
  /** The URL the controller listens on, once `listen` resolved. */
  url: string;
  close(): Promise<void>;
}

/**
 * Assembles and starts a controller: data directory, identity, database (migrated), job queue,
 * journal, agent hub, sources and the runtime, then the HTTP server.
 */
export async function startController(
  config: Config,
  log: Logger,
  options: { listen?: boolean } = {},
): Promise<Controller> {
  const dataDir = resolve(config.dataDir);
  const identity = await loadOrCreateIdentity(dataDir);
  const database = await openDatabase(
    config.database.url ? { url: config.database.url } : { pgliteDir: join(dataDir, 'db') },
  );
  const timeline = new TimelineStore(database.db);
  const agents = new AgentStore(database.db);
  const auth = await Auth.create({
    dataDir,
    identity,
    store: new ApiTokenStore(database.db),
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
  const queue = createJobQueue(config.redis.url, log);
  queue.register('agent-seen', async (data) => {
    const { host, at } = data as { host: string; at: number };
    await agents.markSeen(host, new Date(at));
  });

  const journal = Journal.open(join(dataDir, 'journal'));
  const flusher = new JournalFlusher(
    journal,
    new Cursor(join(dataDir, 'journal', 'flushed-seq')),
    timeline,
    log,
  );

  let runtime: Runtime | undefined;
  const hub = new AgentHub(
    identity,
    {
      ack: (host, ack) => {
        const detail = [ack.hook, ack.detail].filter(Boolean).join(': ') || undefined;
        // `done` ends a command that powers nothing off (a Wake-on-LAN relay): a note, not a host step.
        if (ack.step === 'done') runtime?.note(`relay finished: ${detail ?? ''}`, { host });
        else runtime?.hostProgress(host, ack.commandId, ack.step, detail);
      },
      connected: (host, info) => {
        log.info({ host, ...info }, 'agent connected');
        void queue.add('agent-seen', { host, at: Date.now() }, { attempts: 3, backoffMs: 2000 });
        if (runtime?.engineState.outage) runtime.note('agent connected', { host, data: info });
        runtime?.hostHealthy(host);
      },
      disconnected: (host) => {
        log.info({ host }, 'agent disconnected');
        void queue.add('agent-seen', { host, at: Date.now() }, { attempts: 3, backoffMs: 2000 });
        if (runtime?.engineState.outage) runtime.note('agent disconnected', { host });
      },
    },
    log,
  );
  for (const agent of await agents.list()) await hub.trustAgent(agent.host, agent.publicJwk);

  const sources = new Map<string, PowerSource>();
  for (const source of config.sources) {
    if (source.type === 'simulator') sources.set(source.id, new SimulatorSource(source));
  }
  runtime = new Runtime({ plan: config.plan, journal, flusher, hub, sources, log });
  const app = await buildApp({
    controllerId: identity.id,
    controllerKey: identity.keys.publicJwk as { kty: string; crv: string; x: string },
    timeline,
    agents,
    hub,
    auth,
    tls,
    databaseKind: database.kind,
    queueKind: queue.kind,
    currentOutage: () => runtime.engineState.outage?.id ?? null,
    journalStatus: () => ({ lastSeq: journal.lastSeq, pendingFlush: flusher.pending }),
    logger: log,
  });

  await runtime.start();
  let url = '';
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
    auth,
    tls,
    url,
    close: () =>
      (closing ??= (async () => {
        await runtime.stop();
        hub.close();
        await app.close();
        await flusher.close();
        await queue.close();
        journal.close();
        await database.close();
      })()),
  };
}
