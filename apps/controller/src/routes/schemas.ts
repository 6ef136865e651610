import Type from 'typebox';

export const HostId = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' });

export const ErrorResponse = Type.Object({ error: Type.String(), message: Type.Optional(Type.String()) });

export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  version: Type.String(),
  controller: Type.String(),
  database: Type.Object({ kind: Type.String(), reachable: Type.Boolean() }),
  queue: Type.String(),
  agents: Type.Object({ connected: Type.Array(Type.String()) }),
  outage: Type.Union([Type.String(), Type.Null()]),
  plan: Type.Object({ version: Type.Number() }),
  /** The NUT server's port, or null when it is off. */
  nutServer: Type.Union([Type.Number(), Type.Null()]),
  journal: Type.Object({ lastSeq: Type.Number(), pendingFlush: Type.Number() }),
});

export const OutageSummary = Type.Object({
  id: Type.String(),
  startedAt: Type.String(),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Union([Type.String(), Type.Null()]),
  sources: Type.Array(Type.String()),
});

export const OutageList = Type.Object({ outages: Type.Array(OutageSummary) });

export const OutageTimeline = Type.Object({
  ...OutageSummary.properties,
  events: Type.Array(
    Type.Object({
      seq: Type.Number(),
      at: Type.String(),
      kind: Type.String(),
      host: Type.Union([Type.String(), Type.Null()]),
      source: Type.Union([Type.String(), Type.Null()]),
      data: Type.Record(Type.String(), Type.Unknown()),
    }),
  ),
  readings: Type.Array(
    Type.Object({
      source: Type.String(),
      at: Type.String(),
      status: Type.String(),
      charge: Type.Union([Type.Number(), Type.Null()]),
      runtime: Type.Union([Type.Number(), Type.Null()]),
      load: Type.Union([Type.Number(), Type.Null()]),
      inputVoltage: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
});

export const EnrollRequest = Type.Object(
  {
    token: Type.String({ minLength: 8, maxLength: 256 }),
    host: HostId,
    publicJwk: Type.Object(
      {
        kty: Type.Literal('OKP'),
        crv: Type.Literal('Ed25519'),
        x: Type.String({ minLength: 43, maxLength: 43 }),
      },
      { additionalProperties: false },
    ),
    facts: Type.Record(Type.String(), Type.Unknown(), { maxProperties: 32 }),
  },
  { additionalProperties: false },
);

export const EnrollResponse = Type.Object({
  controller: Type.String(),
  host: Type.String(),
  /** The controller's command-signing key; the agent checks it against the thumbprint it was given at install. */
  controllerKey: Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String() }),
});

export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('viewer')]);

export const LoginRequest = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export const LoginResponse = Type.Object({
  token: Type.String(),
  role: RoleSchema,
  expiresAt: Type.String(),
});
export const MeResponse = Type.Object({ name: Type.String(), role: RoleSchema, via: Type.String() });

export const ApiTokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  createdAt: Type.String(),
});
export const CreateApiTokenRequest = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64 }), role: RoleSchema },
  { additionalProperties: false },
);
export const CreateApiTokenResponse = Type.Object({ ...ApiTokenInfo.properties, token: Type.String() });

export const CreateEnrollmentTokenRequest = Type.Object(
  {
    host: Type.Optional(HostId),
    /** Seconds the token stays valid (default one hour, at most a week). */
    ttlSeconds: Type.Integer({ minimum: 60, maximum: 7 * 24 * 3600, default: 3600 }),
  },
  { additionalProperties: false },
);
export const CreateEnrollmentTokenResponse = Type.Object({
  token: Type.String(),
  host: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.String(),
  /** `curl … /install.sh | sudo sh -s -- --token … --pin …` for this token (docs/agent.md). */
  installCommand: Type.Optional(Type.String()),
});

export const SimulateRequest = Type.Object(
  {
    /** Seconds from now (default at once). */
    at: Type.Number({ minimum: 0, maximum: 86_400, default: 0 }),
    mains: Type.Optional(Type.Boolean()),
    load: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
    charge: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    lost: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const PlanVersionInfo = Type.Object({
  version: Type.Number(),
  origin: Type.String(),
  author: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

export const StartDrillRequest = Type.Object(
  {
    /** Give up (status timed-out) after this many seconds of real time. */
    maxSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 24 * 3600 })),
  },
  { additionalProperties: false },
);
