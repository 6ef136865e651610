import { HookSchema, Seconds } from '@blackstart/agent-protocol';
import Type, { type Static } from 'typebox';

const Id = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,62}$',
  description: 'lower-case id: letters, digits, . _ -',
});

/** When a host starts shutting down. Any trigger in a host's list fires it. */
export const TriggerSchema = Type.Union([
  Type.Object(
    { type: Type.Literal('on-battery'), after: Seconds({ description: 'seconds on battery' }) },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('charge-below'), percent: Type.Number({ minimum: 0, maximum: 100 }) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('runtime-below'), seconds: Seconds() }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('low-battery') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('fsd') }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('comm-lost'),
      after: Seconds({ description: 'seconds without data while last seen on battery' }),
    },
    { additionalProperties: false },
  ),
]);
export type Trigger = Static<typeof TriggerSchema>;

export const HostKindSchema = Type.Union([
  Type.Literal('agent'),
  Type.Literal('nut-client'),
  Type.Literal('wake-only'),
  Type.Literal('controller'),
]);
export type HostKind = Static<typeof HostKindSchema>;

export const HostSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 128 })),
    kind: HostKindSchema,
    /** Hosts this one needs: it goes down before them and comes back after them. */
    dependsOn: Type.Array(Id, { default: [] }),
    /** UPS ids feeding this host; empty means every UPS in the plan. */
    supplies: Type.Array(Id, { default: [] }),
    shutdown: Type.Object(
      {
        /** Empty means the plan's default triggers. */
        triggers: Type.Array(TriggerSchema, { default: [] }),
        hooks: Type.Array(HookSchema, { default: [] }),
        /** Seconds from the command to "down" before the deadline passes. */
        timeout: Seconds({ default: 180, minimum: 1 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type Host = Static<typeof HostSchema>;

export const UpsSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 128 })),
    powerOff: Type.Object(
      {
        /** Power the UPS output off at the end of a shutdown so that returning mains restarts everything. */
        enabled: Type.Boolean({ default: true }),
        /** Seconds the UPS waits before cutting the load, so the last host can halt. */
        delay: Seconds({ default: 60 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type Ups = Static<typeof UpsSchema>;

export const PlanSchema = Type.Object(
  {
    ups: Type.Array(UpsSchema, { minItems: 1 }),
    hosts: Type.Array(HostSchema, { default: [] }),
    settings: Type.Object(
      {
        /** On-battery readings shorter than this are blips and are ignored. */
        debounce: Seconds({ default: 5 }),
        /** Triggers for hosts that list none. */
        defaultTriggers: Type.Array(TriggerSchema, {
          default: [{ type: 'on-battery', after: 120 }, { type: 'low-battery' }],
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type Plan = Static<typeof PlanSchema>;
