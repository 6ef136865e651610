import {
  type CryptoKey,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import Type, { type Static } from 'typebox';
import { HookSchema } from './hooks.ts';
import { lazyValidator } from './messages.ts';

/** RFC 9864's fully specified name for Ed25519 signatures (jose accepts it on Node 20 and 24). */
export const ALGORITHM = 'Ed25519';
export const COMMAND_AUDIENCE = 'blackstart-agent';
export const AGENT_TOKEN_AUDIENCE = 'blackstart-controller';

export interface KeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** RFC 7638 thumbprint of the public key: its stable id (`kid`). */
  kid: string;
}

export async function generateSigningKeys(): Promise<KeyPair & { privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  return { publicKey, privateKey, publicJwk, privateJwk, kid: await calculateJwkThumbprint(publicJwk) };
}

/** Loads a key pair from its private JWK (which carries the public part too). */
export async function importSigningKeys(privateJwk: JWK): Promise<KeyPair> {
  const { d: _d, ...publicJwk } = privateJwk;
  return {
    privateKey: (await importJWK(privateJwk, ALGORITHM)) as CryptoKey,
    publicKey: (await importJWK(publicJwk, ALGORITHM)) as CryptoKey,
    publicJwk,
    kid: await calculateJwkThumbprint(publicJwk),
  };
}

export async function importPublicKey(publicJwk: JWK): Promise<CryptoKey> {
  if (
    publicJwk.kty !== 'OKP' ||
    publicJwk.crv !== 'Ed25519' ||
    typeof publicJwk.x !== 'string' ||
    'd' in publicJwk
  ) {
    throw new Error('not an Ed25519 public JWK');
  }
  return (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x }, ALGORITHM)) as CryptoKey;
}

export function publicKeyThumbprint(publicJwk: JWK): Promise<string> {
  return calculateJwkThumbprint(publicJwk);
}

// ---- commands -----------------------------------------------------------------------------

/** What a signed command says. Registered claims: jti = command id, sub = target host, iss = controller. */
export const CommandBodySchema = Type.Union([
  Type.Object(
    {
      action: Type.Literal('shutdown'),
      outage: Type.String({ maxLength: 128 }),
      reason: Type.String({ maxLength: 512 }),
      hooks: Type.Array(HookSchema, { maxItems: 64 }),
      /** false in drills: everything runs except the final power action. */
      powerOff: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
  /** Send Wake-on-LAN magic packets on this agent's network segment, for hosts the controller cannot reach by broadcast. */
  Type.Object(
    {
      action: Type.Literal('wake'),
      outage: Type.String({ maxLength: 128 }),
      targets: Type.Array(
        Type.Object(
          {
            host: Type.String({ maxLength: 128 }),
            mac: Type.String({ pattern: '^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$' }),
            /** Broadcast address to send to (default 255.255.255.255). */
            broadcast: Type.Optional(Type.String({ maxLength: 64 })),
            port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 256 },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      action: Type.Literal('cancel'),
      outage: Type.String({ maxLength: 128 }),
      /** id of the command to cancel */
      ref: Type.String({ maxLength: 128 }),
    },
    { additionalProperties: false },
  ),
]);
export type CommandBody = Static<typeof CommandBodySchema>;
export type Command = CommandBody & {
  id: string;
  target: string;
  issuer: string;
  issuedAt: number;
  expiresAt: number;
};

const commandBody = lazyValidator(CommandBodySchema);
const REGISTERED = new Set(['jti', 'sub', 'iss', 'aud', 'iat', 'exp']);

export async function signCommand(
  keys: Pick<KeyPair, 'privateKey' | 'kid'>,
  command: { id: string; target: string; issuer: string; ttlSeconds: number; now: number; body: CommandBody },
): Promise<string> {
  const iat = Math.floor(command.now / 1000);
  return await new SignJWT({ ...command.body })
    .setProtectedHeader({ alg: ALGORITHM, kid: keys.kid, typ: 'blackstart-command+jwt' })
    .setJti(command.id)
    .setSubject(command.target)
    .setIssuer(command.issuer)
    .setAudience(COMMAND_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + command.ttlSeconds)
    .sign(keys.privateKey);
}

/** Largest signed command an agent verifies; a bigger one is refused before any parsing. */
export const MAX_COMMAND_BYTES = 32 * 1024;

export type CommandRejection =
  | 'oversized'
  | 'malformed'
  | 'bad-signature'
  | 'expired'
  | 'wrong-target'
  | 'replayed'
  | 'unknown-fields';

export class CommandRejected extends Error {
  constructor(
    readonly code: CommandRejection,
    message: string,
    readonly commandId?: string,
  ) {
    super(message);
    this.name = 'CommandRejected';
  }
}

/**
 * Verifies a command before anything runs: size, signature against the pinned controller key,
 * expiry, target, unknown fields, and an id never seen before. Throws `CommandRejected`.
 */
export async function verifyCommand(
  jws: string,
  options: {
    controllerKey: CryptoKey;
    host: string;
    now: number;
    seen: (id: string) => boolean;
    clockToleranceSeconds?: number;
  },
): Promise<Command> {
  let payload: JWTPayload;
  if (typeof jws !== 'string' || Buffer.byteLength(jws) > MAX_COMMAND_BYTES)
    throw new CommandRejected('oversized', `command is larger than ${MAX_COMMAND_BYTES} bytes`);
  try {
    decodeProtectedHeader(jws);
  } catch {
    throw new CommandRejected('malformed', 'not a compact JWS');
  }
  try {
    ({ payload } = await jwtVerify(jws, options.controllerKey, {
      algorithms: [ALGORITHM],
      audience: COMMAND_AUDIENCE,
      currentDate: new Date(options.now),
      clockTolerance: options.clockToleranceSeconds ?? 5,
      requiredClaims: ['jti', 'sub', 'iss', 'iat', 'exp'],
    }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new CommandRejected('expired', 'command has expired');
    if (error instanceof errors.JWSSignatureVerificationFailed)
      throw new CommandRejected(
        'bad-signature',
        'signature does not verify against the pinned controller key',
      );
    if (error instanceof errors.JOSEError)
      throw new CommandRejected('malformed', `invalid command token: ${error.code}`);
    throw error;
  }
  const id = payload.jti as string;
  if (payload.sub !== options.host)
    throw new CommandRejected('wrong-target', `command is for '${payload.sub}', not '${options.host}'`, id);
  const body = Object.fromEntries(Object.entries(payload).filter(([k]) => !REGISTERED.has(k)));
  if (!commandBody().Check(body)) {
    const first = [...commandBody().Errors(body)][0];
    throw new CommandRejected(
      'unknown-fields',
      `command body rejected: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim(),
      id,
    );
  }
  if (options.seen(id)) throw new CommandRejected('replayed', `command ${id} was already received`, id);
  return {
    ...(body as CommandBody),
    id,
    target: payload.sub as string,
    issuer: payload.iss as string,
    issuedAt: (payload.iat as number) * 1000,
    expiresAt: (payload.exp as number) * 1000,
  };
}

// ---- agent session tokens ----------------------------------------------------------------

/** A short-lived token an enrolled agent presents when it connects, signed with its own key. */
export async function signAgentToken(
  keys: Pick<KeyPair, 'privateKey' | 'kid'>,
  claims: { host: string; controller: string; now: number; ttlSeconds?: number; nonce: string },
): Promise<string> {
  const iat = Math.floor(claims.now / 1000);
  return await new SignJWT({})
    .setProtectedHeader({ alg: ALGORITHM, kid: keys.kid, typ: 'blackstart-agent+jwt' })
    .setSubject(claims.host)
    .setAudience(AGENT_TOKEN_AUDIENCE)
    .setIssuer(claims.host)
    .setJti(claims.nonce)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (claims.ttlSeconds ?? 60))
    .sign(keys.privateKey);
}

/** Reads the host an agent token claims to be, before its key is looked up. */
export function agentTokenHost(token: string): string | undefined {
  try {
    const [, body] = token.split('.');
    const payload = JSON.parse(Buffer.from(body ?? '', 'base64url').toString()) as { sub?: unknown };
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** Verifies an agent's session token against the public key recorded when it enrolled. */
export async function verifyAgentToken(
  token: string,
  options: { agentKey: CryptoKey; host: string; now: number; maxTtlSeconds?: number },
): Promise<{ nonce: string }> {
  const { payload } = await jwtVerify(token, options.agentKey, {
    algorithms: [ALGORITHM],
    audience: AGENT_TOKEN_AUDIENCE,
    subject: options.host,
    currentDate: new Date(options.now),
    clockTolerance: 30,
    requiredClaims: ['jti', 'iat', 'exp'],
  });
  const ttl = (payload.exp as number) - (payload.iat as number);
  if (ttl > (options.maxTtlSeconds ?? 300)) throw new Error('agent token lives too long');
  return { nonce: payload.jti as string };
}
