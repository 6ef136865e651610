import { KeyObject, sign } from 'node:crypto';
import { ALGORITHM, COMMAND_AUDIENCE, type CommandBody, type KeyPair } from '@blackstart/agent-protocol';

/**
 * Signs commands synchronously with node:crypto's Ed25519, producing exactly the compact JWS that
 * `signCommand` (jose) produces — same protected header, same claim order, and Ed25519 signatures
 * are deterministic, so the strings are identical (a test holds it to that). jose signs through
 * WebCrypto, one promise and thread-pool job per command; a fan-out to thousands of agents is
 * cheaper this way and the commands leave in order (docs/benchmarks.md has both measured).
 */
export class CommandSigner {
  private readonly key: KeyObject;
  private readonly header: string;

  constructor(keys: Pick<KeyPair, 'privateKey' | 'kid'>) {
    this.key = KeyObject.from(keys.privateKey as unknown as Parameters<typeof KeyObject.from>[0]);
    this.header = Buffer.from(
      JSON.stringify({ alg: ALGORITHM, kid: keys.kid, typ: 'blackstart-command+jwt' }),
    ).toString('base64url');
  }

  sign(command: SignableCommand): string {
    const input = this.signingInput(command);
    return `${input}.${sign(null, Buffer.from(input), this.key).toString('base64url')}`;
  }

  /** The same, signed on libuv's thread pool: a fan-out signs on other cores while this one sends. */
  signAsync(command: SignableCommand): Promise<string> {
    const input = this.signingInput(command);
    return new Promise((resolve, reject) =>
      sign(null, Buffer.from(input), this.key, (error, signature) =>
        error ? reject(error) : resolve(`${input}.${signature.toString('base64url')}`),
      ),
    );
  }

  private signingInput(command: SignableCommand): string {
    const iat = Math.floor(command.now / 1000);
    const payload = {
      ...command.body,
      jti: command.id,
      sub: command.target,
      iss: command.issuer,
      aud: COMMAND_AUDIENCE,
      iat,
      exp: iat + command.ttlSeconds,
    };
    return `${this.header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  }
}

export interface SignableCommand {
  id: string;
  target: string;
  issuer: string;
  ttlSeconds: number;
  now: number;
  body: CommandBody;
}
