import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { Config } from '../config.ts';
import type { DrillRunner } from '../drill/drill.ts';
import type { LiveFeed } from '../live/live-feed.ts';
import { lastDrillOf, sourceViews, type ViewDeps, wakeReadiness } from '../live/views.ts';
import { whatIf } from '../live/what-if.ts';

export interface LiveDeps extends ViewDeps {
  config: Config;
  drills: DrillRunner;
  live: LiveFeed;
}

/**
 * What the web UI reads beyond the operations API: the live feed (WebSocket), a UPS's recent
 * telemetry, the readiness board, and the what-if simulation of a plan before it is saved.
 */
export function registerLiveRoutes(instance: FastifyInstance, deps: LiveDeps): void {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/api/v1/live', { websocket: true }, (socket) => deps.live.subscribe(socket));

  app.get(
    '/api/v1/sources/:id/history',
    {
      schema: {
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
        querystring: Type.Object({
          minutes: Type.Optional(Type.String({ pattern: '^[0-9]{1,2}$' })),
        }),
      },
    },
    async (request, reply) => {
      if (!deps.sources.has(request.params.id))
        return reply.code(404).send({ error: 'not found', message: `no source '${request.params.id}'` });
      const minutes = Math.min(60, Number(request.query.minutes ?? 60));
      return { source: request.params.id, points: deps.live.historyOf(request.params.id, minutes * 60_000) };
    },
  );

  app.get('/api/v1/readiness', async () => {
    const lastDrill = (await deps.drills.list()).find((d) => d.status !== 'running');
    const links = deps.live.agentLinks();
    const connected = (host: string) => links.get(host)?.connected === true;
    return {
      hosts: deps.runtime.plan.hosts.map((h) => ({
        id: h.id,
        kind: h.kind,
        agent:
          h.kind === 'agent'
            ? (links.get(h.id) ?? { connected: false, version: null, lastSeenAt: null })
            : null,
        wake: wakeReadiness(h, connected),
        lastDrill: lastDrillOf(lastDrill, h.id),
      })),
      ups: sourceViews(deps).map((s) => ({
        id: s.id,
        kind: s.kind,
        capabilities: s.capabilities,
        warnings: s.warnings,
      })),
      lastDrill: lastDrill ?? null,
    };
  });

  // A simulation changes nothing: viewers may ask too.
  app.post(
    '/api/v1/plan/what-if',
    {
      bodyLimit: 4 * 1024 * 1024,
      config: { readOnly: true },
      schema: {
        body: Type.Object(
          {
            plan: Type.Unknown(),
            load: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Number())),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const result = whatIf(request.body, { config: deps.config, engine: deps.runtime.engineState });
      if (!result.ok)
        return reply
          .code(400)
          .send({ error: 'invalid plan', message: 'the plan is not valid', errors: result.errors });
      return result;
    },
  );
}
