import { MAX_MESSAGE_BYTES, publicKeyThumbprint } from '@blackstart/agent-protocol';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import Type from 'typebox';
import { VERSION } from './cli/index.ts';
import { type AgentStore, EnrollmentError, type TimelineStore } from './db/index.ts';
import type { AgentHub } from './hub/agent-hub.ts';
import type { LiveFeed } from './live/live-feed.ts';
import type { Logger } from './logger.ts';
import type { Notifier } from './notifications/index.ts';
import { enrollmentInstallCommand, registerAgentInstall } from './routes/agent-install.ts';
import { registerLiveRoutes } from './routes/live.ts';
import { registerNotificationRoutes } from './routes/notifications.ts';
import { type OperationsDeps, registerOperationsRoutes } from './routes/operations.ts';
import {
  ApiTokenInfo,
  CreateApiTokenRequest,
  CreateApiTokenResponse,
  CreateEnrollmentTokenRequest,
  CreateEnrollmentTokenResponse,
  EnrollRequest,
  EnrollResponse,
  ErrorResponse,
  HealthResponse,
  LoginRequest,
  LoginResponse,
  MeResponse,
  OutageList,
  OutageTimeline,
} from './routes/schemas.ts';
import { registerUiStatic } from './routes/ui-static.ts';
import type { Auth, Principal } from './security/auth.ts';
import type { TlsMaterial } from './security/tls.ts';

export interface AppDeps extends OperationsDeps {
  controllerId: string;
  controllerKey: { kty: string; crv: string; x: string };
  timeline: TimelineStore;
  agents: AgentStore;
  hub: AgentHub;
  auth: Auth;
  tls?: TlsMaterial | undefined;
  databaseKind: string;
  queueKind: string;
  /** The NUT server's port, when it runs. */
  nutPort(): number | undefined;
  notifier: Notifier;
  live: LiveFeed;
  journalStatus(): { lastSeq: number; pendingFlush: number };
  logger: Logger;
  clock?: () => number;
}

export const SESSION_COOKIE = 'bs_session';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** No authentication (health, login, agent enrollment). */
    public?: boolean;
    /** A POST that changes nothing (a simulation): any role may call it. */
    readOnly?: boolean;
  }
}

function credential(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7);
  return request.cookies[SESSION_COOKIE];
}

/** The HTTP(S) API and the agent WebSocket endpoint, as a Fastify instance (not yet listening). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    ...(deps.tls && { https: { cert: deps.tls.cert, key: deps.tls.key } }),
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

  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(websocket, { options: { maxPayload: MAX_MESSAGE_BYTES } });

  // Every /api route needs a principal unless marked public; reading needs any role, changing needs admin.
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/') || request.routeOptions.config.public) return;
    const principal = await deps.auth.authenticate(credential(request), clock());
    if (!principal)
      return reply.code(401).send({ error: 'unauthorized', message: 'log in or send an API token' });
    if (request.method !== 'GET' && !request.routeOptions.config.readOnly && principal.role !== 'admin')
      return reply.code(403).send({ error: 'forbidden', message: 'this needs the admin role' });
    request.principal = principal;
  });

  // API answers are per login and change from one moment to the next: never cached, by anyone.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/') && !reply.hasHeader('cache-control'))
      reply.header('cache-control', 'no-store');
  });

  deps.hub.register(app);
  registerAgentInstall(app, deps);

  app.get(
    '/api/v1/health',
    { config: { public: true }, schema: { response: { 200: HealthResponse } } },
    async () => {
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
        outage: deps.runtime.engineState.outage?.id ?? null,
        plan: { version: deps.plans.current.version },
        nutServer: deps.nutPort() ?? null,
        journal: deps.journalStatus(),
      };
    },
  );

  // ---- sessions and tokens --------------------------------------------------------------------

  app.post(
    '/api/v1/auth/login',
    {
      config: { public: true, rateLimit: { max: 10, timeWindow: '1 minute' } },
      schema: { body: LoginRequest, response: { 200: LoginResponse, 401: ErrorResponse } },
    },
    async (request, reply) => {
      const session = await deps.auth.login(request.body.username, request.body.password, clock());
      if (!session) {
        request.log.warn({ username: request.body.username, ip: request.ip }, 'failed login');
        return reply.code(401).send({ error: 'unauthorized', message: 'wrong user name or password' });
      }
      reply.setCookie(SESSION_COOKIE, session.token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.tls !== undefined,
        expires: new Date(session.expiresAt),
      });
      return {
        token: session.token,
        role: session.role,
        expiresAt: new Date(session.expiresAt).toISOString(),
      };
    },
  );

  app.post('/api/v1/auth/logout', { config: { public: true } }, async (_request, reply) => {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });

  app.get(
    '/api/v1/auth/me',
    { schema: { response: { 200: MeResponse } } },
    async (request) => request.principal!,
  );

  const tokenInfo = (t: { id: string; name: string; role: 'admin' | 'viewer'; createdAt: Date }) => ({
    id: t.id,
    name: t.name,
    role: t.role,
    createdAt: t.createdAt.toISOString(),
  });

  app.get(
    '/api/v1/tokens',
    { schema: { response: { 200: Type.Object({ tokens: Type.Array(ApiTokenInfo) }) } } },
    async () => ({ tokens: deps.auth.listTokens().map(tokenInfo) }),
  );

  app.post(
    '/api/v1/tokens',
    { schema: { body: CreateApiTokenRequest, response: { 201: CreateApiTokenResponse } } },
    async (request, reply) => {
      const { token, record } = await deps.auth.createToken(request.body.name, request.body.role, clock());
      return reply.code(201).send({ ...tokenInfo(record), token });
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        params: Type.Object({ id: Type.String({ minLength: 16, maxLength: 64 }) }),
        response: { 204: Type.Null(), 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      if (!(await deps.auth.revokeToken(request.params.id, clock())))
        return reply.code(404).send({ error: 'not found', message: 'no such active token' });
      return reply.code(204).send(null);
    },
  );

  // ---- outages --------------------------------------------------------------------------------

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

  // ---- agents ---------------------------------------------------------------------------------

  app.post(
    '/api/v1/enrollment-tokens',
    { schema: { body: CreateEnrollmentTokenRequest, response: { 201: CreateEnrollmentTokenResponse } } },
    async (request, reply) => {
      const { host, ttlSeconds } = request.body;
      const { token, expiresAt } = await deps.agents.mintToken({
        ...(host !== undefined && { host }),
        ttlSeconds,
        now: new Date(clock()),
      });
      return reply.code(201).send({
        token,
        host: host ?? null,
        expiresAt: expiresAt.toISOString(),
        installCommand: await enrollmentInstallCommand(request, deps, token, host),
      });
    },
  );

  // Enrollment is authenticated by the single-use token in the body.
  app.post(
    '/api/v1/agents/enroll',
    {
      config: { public: true, rateLimit: { max: 30, timeWindow: '1 minute' } },
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

  registerOperationsRoutes(app, deps, clock);
  registerNotificationRoutes(app, deps.notifier);
  registerLiveRoutes(app, deps);
  await registerUiStatic(app);

  return app;
}
