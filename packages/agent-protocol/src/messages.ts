import Type, { type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';

/** Largest WebSocket message either side accepts; anything bigger closes the connection. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export const PROTOCOL_VERSION = 1;

const Id = Type.String({ minLength: 1, maxLength: 128 });
const Epoch = Type.Number({ minimum: 0, description: 'milliseconds since the Unix epoch' });

/** Steps an agent acknowledges while carrying out a command, in the order they happen. */
export const AckStepSchema = Type.Union([
  Type.Literal('received'),
  Type.Literal('hook-started'),
  Type.Literal('hook-finished'),
  Type.Literal('powering-off'),
  /** A command that does not end in a power-off (wake relay) finished. */
  Type.Literal('done'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);
export type AckStep = Static<typeof AckStepSchema>;

// ---- agent → controller -------------------------------------------------------------------

export const HelloSchema = Type.Object(
  {
    type: Type.Literal('hello'),
    protocol: Type.Number(),
    host: Id,
    version: Type.String({ maxLength: 64 }),
    hostname: Type.String({ maxLength: 255 }),
    bootId: Type.Optional(Type.String({ maxLength: 64 })),
    powerAction: Type.String({
      maxLength: 32,
      description: 'how this agent powers its host off (dry-run, systemd-path, …)',
    }),
  },
  { additionalProperties: false },
);

export const AckSchema = Type.Object(
  {
    type: Type.Literal('ack'),
    commandId: Id,
    step: AckStepSchema,
    at: Epoch,
    hook: Type.Optional(Type.String({ maxLength: 64 })),
    detail: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: false },
);

export const AgentMessageSchema = Type.Union([HelloSchema, AckSchema]);
export type AgentMessage = Static<typeof AgentMessageSchema>;
export type Hello = Static<typeof HelloSchema>;
export type Ack = Static<typeof AckSchema>;

// ---- controller → agent -------------------------------------------------------------------

export const WelcomeSchema = Type.Object(
  {
    type: Type.Literal('welcome'),
    protocol: Type.Number(),
    controller: Id,
    serverTime: Epoch,
  },
  { additionalProperties: false },
);

/** A signed command: `jws` is a compact Ed25519 JWS whose claims are a `CommandClaims`. */
export const CommandEnvelopeSchema = Type.Object(
  { type: Type.Literal('command'), jws: Type.String({ minLength: 1, maxLength: 32 * 1024 }) },
  { additionalProperties: false },
);

/** Live UPS state streamed to agents so they can protect themselves if the controller vanishes. */
export const UpsStateSchema = Type.Object(
  {
    type: Type.Literal('ups-state'),
    at: Epoch,
    onBattery: Type.Boolean(),
    charge: Type.Optional(Type.Number()),
    runtime: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

export const ErrorMessageSchema = Type.Object(
  {
    type: Type.Literal('error'),
    code: Type.String({ maxLength: 64 }),
    message: Type.String({ maxLength: 1024 }),
    ref: Type.Optional(Id),
  },
  { additionalProperties: false },
);

export const ControllerMessageSchema = Type.Union([
  WelcomeSchema,
  CommandEnvelopeSchema,
  UpsStateSchema,
  ErrorMessageSchema,
]);
export type ControllerMessage = Static<typeof ControllerMessageSchema>;
export type Welcome = Static<typeof WelcomeSchema>;
export type UpsStateMessage = Static<typeof UpsStateSchema>;

// ---- parsing ------------------------------------------------------------------------------

export class ProtocolError extends Error {
  constructor(
    readonly code: 'too-large' | 'not-json' | 'invalid-message',
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// biome-ignore lint/complexity/noBannedTypes: typebox's own type for a validator without a context
type ValidatorOf<T extends TSchema> = Validator<{}, T>;

/** Compiles a validator on first use: each side only ever needs the other side's messages. */
export function lazyValidator<T extends TSchema>(schema: T): () => ValidatorOf<T> {
  let compiled: ValidatorOf<T> | undefined;
  return () => {
    compiled ??= Compile(schema);
    return compiled;
  };
}

const agentMessage = lazyValidator(AgentMessageSchema);
const controllerMessage = lazyValidator(ControllerMessageSchema);

function parseWith<T>(
  validator: {
    Check(v: unknown): boolean;
    Errors(v: unknown): Iterable<{ instancePath: string; message: string }>;
  },
  raw: string | Buffer,
): T {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_MESSAGE_BYTES)
    throw new ProtocolError('too-large', `message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString());
  } catch {
    throw new ProtocolError('not-json', 'message is not JSON');
  }
  if (!validator.Check(value)) {
    const first = [...validator.Errors(value)][0];
    throw new ProtocolError(
      'invalid-message',
      first ? `${first.instancePath || '/'}: ${first.message}` : 'invalid message',
    );
  }
  return value as T;
}

/** Parses and validates a message an agent sent; throws `ProtocolError`. */
export function parseAgentMessage(raw: string | Buffer): AgentMessage {
  return parseWith<AgentMessage>(agentMessage(), raw);
}

/** Parses and validates a message the controller sent; throws `ProtocolError`. */
export function parseControllerMessage(raw: string | Buffer): ControllerMessage {
  return parseWith<ControllerMessage>(controllerMessage(), raw);
}
