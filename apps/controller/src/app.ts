import { MAX_MESSAGE_BYTES, publicKeyThumbprint } from '@blackstart/agent-protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import Type from 'typebox';
import { VERSION } from './cli/index.ts';
import { type AgentStore, EnrollmentError, type TimelineStore } from './db/index.ts';
import type { AgentHub } from './hub/agent-hub.ts';
import type { Logger } from './logger.ts';
import {
  EnrollRequest,
  EnrollResponse,
  ErrorResponse,
  HealthResponse,
  OutageList,
  OutageTimeline,
} from './routes/schemas.ts';

export interface AppDeps {
  controllerId: string;
  controllerKey: { kty: string; crv: string; x: string };
  timeline: TimelineStore;
  agents: AgentStore;
  hub: AgentHub;
  databaseKind: string;
  queueKind: string;
  /** The running outage's id, if any. */
  currentOutage(): string | null;
  journalStatus(): { lastSeq: number; pendingFlush: number };
  logger: Logger;
  clock?: () => number;
}

/** The HTTP API and the agent WebSocket endpoint, as a Fastify instance (not yet listening). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  const clock = deps.clock ?? Date.now;

  // 5xx details stay in the log; clients get a generic message.
  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    reply.code(status).send({
      error: status >= 500 ? 'internal error' : (error.code ?? 'bad request'),
      ...(status < 500 && { message: error.message }),
    });
  });

  await app.register(websocket, { options: { maxPayload: MAX_MESSAGE_BYTES } });
  deps.hub.register(app);

  app.get('/api/v1/health', { schema: { response: { 200: HealthResponse } } }, async () => {
    const reachable = await Promise.race([
      deps.timeline.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref()),
    ]);
    return {
      status: reachable ? ('ok' as const) : ('degraded' as const),
      version: VERSION,
      controller: deps.controllerId,
      database: { kind: deps.databaseKind, reachable },
      queue: deps.queueKind,
      agents: { connected: deps.hub.connectedHosts() },
      outage: deps.currentOutage(),
      journal: deps.journalStatus(),
    };
  });

  app.get('/api/v1/outages', { schema: { response: { 200: OutageList } } }, async () => ({
    outages: await deps.timeline.listOutages(),
  }));

  app.get(
    '/api/v1/outages/:id/timeline',
    {
      schema: {
        params: Type.Object({ id: Type.String({ maxLength: 128 }) }),
        response: { 200: OutageTimeline, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      const timeline = await deps.timeline.timeline(request.params.id);
      if (!timeline)
        return reply.code(404).send({ error: 'not found', message: `no outage '${request.params.id}'` });
      return timeline;
    },
  );

  // Enrollment is authenticated by the single-use token in the body.
  app.post(
    '/api/v1/agents/enroll',
    {
      schema: {
        body: EnrollRequest,
        response: { 200: EnrollResponse, 401: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { token, host, publicJwk, facts } = request.body;
      try {
        const keyId = await publicKeyThumbprint(publicJwk);
        await deps.agents.enroll({ token, host, publicJwk, keyId, facts, now: new Date(clock()) });
        await deps.hub.trustAgent(host, publicJwk);
        request.log.info({ host, keyId }, 'agent enrolled');
        return { controller: deps.controllerId, host, controllerKey: deps.controllerKey };
      } catch (error) {
        if (error instanceof EnrollmentError)
          return reply
            .code(error.code === 'invalid-token' ? 401 : 409)
            .send({ error: error.code, message: error.message });
        throw error;
      }
    },
  );

  return app;
}
