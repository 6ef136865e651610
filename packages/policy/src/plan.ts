import { HookSchema, Seconds } from '@blackstart/agent-protocol';
import Type, { type Static } from 'typebox';

const Id = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,62}$',
  description: 'lower-case id: letters, digits, . _ - (at most 63 characters)',
});

const Percent = (options: { default?: number; description?: string } = {}) =>
  Type.Number({ minimum: 0, maximum: 100, ...options });

/** When a host starts shutting down. Any trigger in a host's list fires it. */
export const TriggerSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal('on-battery'),
      after: Seconds({ description: 'seconds on battery in this outage' }),
    },
    { additionalProperties: false, description: 'on battery for at least `after` seconds' },
  ),
  Type.Object(
    { type: Type.Literal('charge-below'), percent: Percent({ description: 'battery charge, %' }) },
    { additionalProperties: false, description: 'battery charge at or below `percent` while on battery' },
  ),
  Type.Object(
    { type: Type.Literal('runtime-below'), seconds: Seconds({ description: 'runtime the UPS reports' }) },
    { additionalProperties: false, description: 'reported runtime at or below `seconds` while on battery' },
  ),
  Type.Object(
    { type: Type.Literal('low-battery') },
    { additionalProperties: false, description: 'the UPS raises LB while on battery' },
  ),
  Type.Object(
    { type: Type.Literal('fsd') },
    { additionalProperties: false, description: 'the UPS (or its NUT primary) raises FSD' },
  ),
  Type.Object(
    {
      type: Type.Literal('comm-lost'),
      after: Seconds({ description: 'seconds without data while last seen on battery' }),
    },
    {
      additionalProperties: false,
      description: 'no data from a UPS last seen on battery for `after` seconds',
    },
  ),
  Type.Object(
    {
      type: Type.Literal('budget'),
      margin: Type.Optional(
        Seconds({ description: 'safety margin in seconds; default: settings.budget.margin' }),
      ),
    },
    {
      additionalProperties: false,
      description:
        'the latest moment that still lets this host and every host waiting for it finish before the ' +
        'estimated end of runtime, minus a safety margin',
    },
  ),
]);
export type Trigger = Static<typeof TriggerSchema>;

export const HostKindSchema = Type.Union(
  [Type.Literal('agent'), Type.Literal('nut-client'), Type.Literal('wake-only'), Type.Literal('controller')],
  {
    description:
      'agent: runs blackstart-agent; nut-client: follows the controller’s NUT server as a secondary; ' +
      'wake-only: never shut down by Blackstart, only woken; controller: the controller’s own host (last)',
  },
);
export type HostKind = Static<typeof HostKindSchema>;

/** What proves a woken host is back. */
export const HealthCheckSchema = Type.Union([
  Type.Object({ type: Type.Literal('agent') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('nut') }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('tcp'),
      host: Type.Optional(
        Type.String({ minLength: 1, maxLength: 255, description: 'default: the host’s address' }),
      ),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('none') }, { additionalProperties: false }),
]);
export type HealthCheck = Static<typeof HealthCheckSchema>;

export const WakeMethodSchema = Type.Union(
  [Type.Literal('wol'), Type.Literal('relay'), Type.Literal('power-on'), Type.Literal('none')],
  {
    description:
      'wol: the controller sends a Wake-on-LAN packet; relay: an agent on `via` sends it; ' +
      'power-on: the host powers on by itself when its power returns; none: Blackstart leaves it off',
  },
);
export type WakeMethod = Static<typeof WakeMethodSchema>;

const Mac = Type.String({
  pattern: '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$',
  description: 'MAC address, e.g. 00:11:22:33:44:55',
});

export const WakeSchema = Type.Object(
  {
    method: WakeMethodSchema,
    mac: Type.Optional(Mac),
    broadcast: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Wake-on-LAN destination address' }),
    ),
    via: Type.Optional(Id),
    /** Default: agent for agent hosts, nut for nut-clients, none otherwise. */
    health: Type.Optional(HealthCheckSchema),
    timeout: Seconds({ default: 300, minimum: 1, description: 'seconds to wait for health per attempt' }),
    retries: Type.Integer({ default: 2, minimum: 0, maximum: 20 }),
  },
  { additionalProperties: false },
);
export type Wake = Static<typeof WakeSchema>;

export const PointOfNoReturnSchema = Type.Union(
  [Type.Literal('triggered'), Type.Literal('commanded'), Type.Literal('powering-off')],
  {
    description:
      'from when a host’s shutdown is no longer cancelled if mains returns: once its trigger fired, ' +
      'once its shutdown command was sent, or only once it reported powering off',
  },
);
export type PointOfNoReturn = Static<typeof PointOfNoReturnSchema>;

export const HostSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 128 })),
    kind: HostKindSchema,
    /** Network address: the default target of TCP health checks. */
    address: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    /** A group whose triggers apply when the host lists none. */
    group: Type.Optional(Id),
    /** Hosts this one needs: it goes down before them and comes back after them. */
    dependsOn: Type.Array(Id, { default: [] }),
    /** UPS ids feeding this host; empty means every UPS in the plan. */
    supplies: Type.Array(Id, { default: [] }),
    /** The host goes down only when fewer than this many of its supplies are healthy. */
    minSupplies: Type.Integer({ default: 1, minimum: 1 }),
    shutdown: Type.Object(
      {
        /** Empty means the group's triggers, or the plan's default triggers. */
        triggers: Type.Array(TriggerSchema, { default: [] }),
        hooks: Type.Array(HookSchema, { default: [] }),
        /** Seconds from the command to "down" before the deadline passes. */
        timeout: Seconds({ default: 180, minimum: 1 }),
        /** Seconds a shutdown usually takes; default: p95 of the last runs, else the timeout. */
        expectedDuration: Type.Optional(Seconds()),
        fallback: Type.Union([Type.Literal('proceed'), Type.Literal('hold')], {
          default: 'proceed',
          description:
            'what this host past its deadline means for the hosts it depends on: proceed (treat it as ' +
            'down) or hold (they wait for its acknowledgement until their UPS reports low battery or FSD)',
        }),
        /** Default: settings.pointOfNoReturn, or the group's. */
        pointOfNoReturn: Type.Optional(PointOfNoReturnSchema),
      },
      { additionalProperties: false, default: {} },
    ),
    wake: Type.Optional(WakeSchema),
  },
  { additionalProperties: false },
);
export type Host = Static<typeof HostSchema>;

export const GroupSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ maxLength: 128 })),
    triggers: Type.Array(TriggerSchema, { default: [] }),
    pointOfNoReturn: Type.Optional(PointOfNoReturnSchema),
  },
  { additionalProperties: false },
);
export type Group = Static<typeof GroupSchema>;

/** One observation of the UPS: at `load` % it reported `runtime` seconds at `charge` %. */
export const BatterySampleSchema = Type.Object(
  {
    load: Type.Number({ exclusiveMinimum: 0, maximum: 200, description: 'ups.load, %' }),
    runtime: Type.Number({ exclusiveMinimum: 0, description: 'battery.runtime, seconds' }),
    charge: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'battery.charge' })),
  },
  { additionalProperties: false },
);
export type BatterySample = Static<typeof BatterySampleSchema>;

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
        /**
         * Seconds the output stays off before Blackstart may switch it back on, so that hosts see
         * the power loss (and their BIOS powers them on when it returns).
         */
        offFor: Seconds({ default: 10 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Readings of this UPS's runtime at known loads, for the battery model (feasibility, simulation). */
    battery: Type.Optional(
      Type.Object(
        {
          load: Type.Optional(Type.Number({ minimum: 0, maximum: 200, description: 'typical ups.load, %' })),
          samples: Type.Array(BatterySampleSchema, { default: [], maxItems: 1000 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Ups = Static<typeof UpsSchema>;

export const SettingsSchema = Type.Object(
  {
    /** On-battery readings shorter than this are blips and are ignored. */
    debounce: Seconds({ default: 5 }),
    /** Mains must be back this long before an outage counts as over (its pending steps are cancelled). */
    mainsBackAfter: Seconds({ default: 10 }),
    /** A UPS without a reading for this long counts as lost. */
    staleAfter: Seconds({ default: 30, minimum: 1 }),
    /** Triggers for hosts that list none and whose group lists none. */
    defaultTriggers: Type.Array(TriggerSchema, {
      default: [{ type: 'on-battery', after: 120 }, { type: 'low-battery' }],
    }),
    pointOfNoReturn: Type.Union(
      [Type.Literal('triggered'), Type.Literal('commanded'), Type.Literal('powering-off')],
      { default: 'commanded' },
    ),
    budget: Type.Object(
      {
        /** Default safety margin of budget triggers, seconds. */
        margin: Seconds({ default: 60 }),
        /** Charge below which the battery counts as empty when estimating runtime from the depletion rate. */
        reserveCharge: Percent({ default: 10 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const RestoreSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** Every UPS of the outage must have been on mains this long… */
    mainsStableFor: Seconds({ default: 120 }),
    /** …and report at least this charge before anything is switched on. */
    minCharge: Percent({ default: 50 }),
    /** When a host does not come back: wake its dependents anyway, or leave them off. */
    onWakeFailure: Type.Union([Type.Literal('continue'), Type.Literal('skip-dependents')], {
      default: 'continue',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const PlanSchema = Type.Object(
  {
    ups: Type.Array(UpsSchema, { minItems: 1 }),
    hosts: Type.Array(HostSchema, { default: [] }),
    groups: Type.Array(GroupSchema, { default: [] }),
    settings: SettingsSchema,
    restore: RestoreSchema,
  },
  { additionalProperties: false },
);
export type Plan = Static<typeof PlanSchema>;
