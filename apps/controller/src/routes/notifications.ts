import { explainSchemaErrors } from '@blackstart/policy';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import Value from 'typebox/value';
import { type ChannelConfig, ChannelSchema, type Notifier, testChannel } from '../notifications/index.ts';
import { ErrorResponse } from './schemas.ts';

const TestResultSchema = Type.Union([
  Type.Object({ ok: Type.Literal(true), ms: Type.Number() }),
  Type.Object({ ok: Type.Literal(false), ms: Type.Number(), error: Type.String() }),
]);

/**
 * Notification channels: their state and the messages that finally failed (any login); a test
 * message to a configured channel, or to a channel being edited before it is saved (admin).
 */
export function registerNotificationRoutes(instance: FastifyInstance, notifier: Notifier): void {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/api/v1/notifications', async () => ({
    channels: notifier.channels(),
    failures: notifier.failures(),
  }));

  app.post(
    '/api/v1/notifications/channels/:id/test',
    {
      schema: {
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: TestResultSchema, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      if (!notifier.channels().some((c) => c.id === request.params.id))
        return reply
          .code(404)
          .send({ error: 'not found', message: `no notification channel '${request.params.id}'` });
      return await notifier.test(request.params.id);
    },
  );

  app.post('/api/v1/notifications/test', async (request, reply) => {
    const channel = Value.Default(ChannelSchema, Value.Clone(request.body));
    if (!Value.Check(ChannelSchema, channel))
      return reply.code(400).send({
        error: 'invalid channel',
        message: 'the channel is not valid',
        errors: explainSchemaErrors(ChannelSchema, channel),
      });
    return await testChannel(channel as ChannelConfig);
  });
}
