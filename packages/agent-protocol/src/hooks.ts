import Type, { type Static } from 'typebox';

/** Seconds, as plans and commands express every duration. */
export const Seconds = (
  options: { default?: number; minimum?: number; maximum?: number; description?: string } = {},
) => Type.Number({ minimum: 0, ...options });

/**
 * A hook the agent runs before powering its host off. Hooks run in order; each has a timeout and
 * its output is captured and reported in the acknowledgements.
 */
export const HookSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal('command'),
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      run: Type.String({ minLength: 1, maxLength: 4096, description: 'shell command, run with /bin/sh -c' }),
      timeout: Seconds({ default: 60, maximum: 3600 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('docker-stop'),
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      projects: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64 })),
      timeout: Seconds({ default: 60, maximum: 3600 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('libvirt-shutdown'),
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      domains: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 256 })),
      timeout: Seconds({ default: 120, maximum: 3600 }),
      destroyAfterTimeout: Type.Boolean({ default: false }),
    },
    { additionalProperties: false },
  ),
]);
export type Hook = Static<typeof HookSchema>;
