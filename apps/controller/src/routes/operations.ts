import { validatePlan } from '@blackstart/policy';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { type Config, checkPlanAgainstConfig } from '../config.ts';
import { type AgentStore, type TimelineStore, timelineCsv } from '../db/index.ts';
import { DrillRefused, type DrillRunner } from '../drill/drill.ts';
import type { AgentHub } from '../hub/agent-hub.ts';
import { sourceViews } from '../live/views.ts';
import type { PlanStore } from '../plan-store.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { SimulatorSource } from '../sources/simulator.ts';
import type { PowerSource, SourceCapabilities } from '../sources/source.ts';
import { PlanVersionInfo, SimulateRequest, StartDrillRequest } from './schemas.ts';

export interface OperationsDeps {
  config: Config;
  timeline: TimelineStore;
  agents: AgentStore;
  hub: AgentHub;
  runtime: Runtime;
  plans: PlanStore;
  drills: DrillRunner;
  sources: ReadonlyMap<string, PowerSource>;
  capabilities: ReadonlyMap<string, SourceCapabilities>;
}

const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

/**
 * The operations API: timelines as CSV, the plan (read, replace, versions), sources and what their
 * UPS offers, connected agents, drills. Reading needs any login; changing needs admin (app.ts).
 */
export function registerOperationsRoutes(
  instance: FastifyInstance,
  deps: OperationsDeps,
  clock: () => number,
): void {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/api/v1/outages/:id/timeline.csv', { schema: { params: IdParam } }, async (request, reply) => {
    const timeline = await deps.timeline.timeline(request.params.id);
    if (!timeline)
      return reply.code(404).send({ error: 'not found', message: `no outage '${request.params.id}'` });
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${timeline.id}.csv"`)
      .send(timelineCsv(timeline));
  });

  // ---- plan -----------------------------------------------------------------------------------

  app.get('/api/v1/plan', async () => {
    const current = deps.plans.current;
    return {
      version: current.version,
      origin: current.origin,
      author: current.author ?? null,
      at: current.at,
      /** The version waiting for the running outage to end, if any. */
      pending: deps.runtime.planPending?.version ?? null,
      inForce: deps.runtime.plan,
      plan: current.plan,
    };
  });

  app.put('/api/v1/plan', { bodyLimit: 4 * 1024 * 1024 }, async (request, reply) => {
    const checked = validatePlan(request.body);
    if (!checked.ok)
      return reply
        .code(400)
        .send({ error: 'invalid plan', message: 'the plan is not valid', errors: checked.errors });
    const errors = checkPlanAgainstConfig(checked.plan, deps.config);
    if (errors.length > 0)
      return reply
        .code(400)
        .send({ error: 'invalid plan', message: 'the plan does not fit this controller', errors });
    const version = deps.plans.replace(checked.plan, request.principal?.name ?? 'unknown');
    const applied = deps.runtime.replacePlan(version.plan, {
      lineage: version.lineage,
      version: version.version,
      origin: version.origin,
      ...(version.author !== undefined && { author: version.author }),
    });
    request.log.info({ version: version.version, applied, author: version.author }, 'plan replaced');
    return {
      version: version.version,
      applied: applied === 'applied',
      ...(applied === 'pending' && { message: 'an outage is running: the new plan applies when it ends' }),
    };
  });

  app.get(
    '/api/v1/plan/versions',
    { schema: { response: { 200: Type.Object({ versions: Type.Array(PlanVersionInfo) }) } } },
    async () => ({ versions: await deps.timeline.listPlanVersions(deps.plans.current.lineage) }),
  );

  app.get(
    '/api/v1/plan/versions/:version',
    {
      schema: {
        params: Type.Object({ version: Type.String({ pattern: '^[0-9]{1,9}$' }) }),
      },
    },
    async (request, reply) => {
      const found = await deps.timeline.planVersion(
        deps.plans.current.lineage,
        Number(request.params.version),
      );
      if (!found) return reply.code(404).send({ error: 'not found', message: 'no such plan version' });
      return found;
    },
  );

  // ---- sources and agents ---------------------------------------------------------------------

  app.get('/api/v1/sources', async () => ({ sources: sourceViews(deps) }));

  app.post(
    '/api/v1/sources/:id/simulate',
    { schema: { params: IdParam, body: SimulateRequest } },
    async (request, reply) => {
      const source = deps.sources.get(request.params.id);
      if (!(source instanceof SimulatorSource))
        return reply
          .code(404)
          .send({ error: 'not found', message: `no simulator source '${request.params.id}'` });
      source.play([request.body]);
      return reply.code(202).send({ scheduled: request.body });
    },
  );

  app.get('/api/v1/agents', async () => {
    const connected = new Map(deps.hub.agents().map((a) => [a.host, a]));
    const enrolled = await deps.agents.list();
    return {
      agents: enrolled.map((a) => {
        const live = connected.get(a.host);
        return {
          host: a.host,
          keyId: a.keyId,
          enrolledAt: a.enrolledAt.toISOString(),
          lastSeenAt: a.lastSeenAt?.toISOString() ?? null,
          connected: live !== undefined,
          ...(live && {
            version: live.version,
            hostname: live.hostname,
            powerAction: live.powerAction,
            connectedAt: new Date(live.connectedAt).toISOString(),
          }),
        };
      }),
    };
  });

  // ---- drills ---------------------------------------------------------------------------------

  app.post(
    '/api/v1/drills',
    { schema: { body: Type.Optional(StartDrillRequest) } },
    async (request, reply) => {
      try {
        const report = await deps.drills.start({
          ...(request.body?.maxSeconds !== undefined && { maxSeconds: request.body.maxSeconds }),
        });
        request.log.info({ drill: report.id, by: request.principal?.name, at: clock() }, 'drill started');
        return reply.code(202).send(report);
      } catch (error) {
        if (error instanceof DrillRefused)
          return reply.code(409).send({ error: 'conflict', message: error.message });
        throw error;
      }
    },
  );

  app.get('/api/v1/drills', async () => ({ drills: await deps.drills.list() }));

  app.get('/api/v1/drills/:id', { schema: { params: IdParam } }, async (request, reply) => {
    const report = await deps.drills.get(request.params.id);
    if (!report)
      return reply.code(404).send({ error: 'not found', message: `no drill '${request.params.id}'` });
    return report;
  });

  app.post('/api/v1/drills/:id/abort', { schema: { params: IdParam } }, async (request, reply) => {
    if (deps.drills.running?.id !== request.params.id)
      return reply.code(404).send({ error: 'not found', message: 'no such drill running' });
    deps.drills.abort(`aborted by ${request.principal?.name ?? 'unknown'}`);
    return deps.drills.get(request.params.id);
  });
}
