import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword, verifyPassword } from '@blackstart/nut-protocol';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { ApiToken, ApiTokenStore, Role } from '../db/index.ts';
import { hashApiToken } from '../db/index.ts';
import type { ControllerIdentity } from '../identity.ts';

export interface Principal {
  name: string;
  role: Role;
  via: 'session' | 'api-token';
}

const SESSION_AUDIENCE = 'blackstart-session';

/**
 * Who may use the API: the admin and (optionally) a read-only viewer log in with a password and get
 * a session token signed by the controller's key; scripts use API tokens. Sessions are verified
 * without the database and API tokens are held in memory, so the API keeps answering during an
 * outage even when PostgreSQL is gone.
 */
export class Auth {
  private readonly tokens: Map<string, ApiToken>;

  private constructor(
    private readonly identity: ControllerIdentity,
    private readonly store: ApiTokenStore,
    private readonly passwords: Map<string, { hash: string; role: Role }>,
    tokens: Map<string, ApiToken>,
    private readonly sessionSeconds: number,
    /** The admin password when it was generated at this start: print it once, then forget it. */
    readonly generatedAdminPassword: string | undefined,
  ) {
    this.tokens = tokens;
  }

  static async create(options: {
    dataDir: string;
    identity: ControllerIdentity;
    store: ApiTokenStore;
    adminPassword?: string | undefined;
    viewerPassword?: string | undefined;
    sessionHours: number;
    /** false: the database is not reachable yet, start from the local copy of the API tokens. */
    databaseReady?: boolean;
  }): Promise<Auth> {
    const passwords = new Map<string, { hash: string; role: Role }>();
    let generated: string | undefined;
    const file = join(options.dataDir, 'admin-password.hash');
    if (options.adminPassword) {
      passwords.set('admin', { hash: hashPassword(options.adminPassword), role: 'admin' });
    } else if (existsSync(file)) {
      passwords.set('admin', { hash: readFileSync(file, 'utf8').trim(), role: 'admin' });
    } else {
      generated = randomBytes(15).toString('base64url');
      const hash = hashPassword(generated);
      writeFileSync(file, `${hash}\n`, { mode: 0o600 });
      passwords.set('admin', { hash, role: 'admin' });
    }
    if (options.viewerPassword)
      passwords.set('viewer', { hash: hashPassword(options.viewerPassword), role: 'viewer' });
    return new Auth(
      options.identity,
      options.store,
      passwords,
      await options.store.activeOrCached(options.databaseReady ?? true),
      Math.round(options.sessionHours * 3600),
      generated,
    );
  }

  /** Checks a user name and password; resolves to a session token, or undefined when wrong. */
  async login(
    name: string,
    password: string,
    now: number,
  ): Promise<{ token: string; role: Role; expiresAt: number } | undefined> {
    const user = this.passwords.get(name);
    // Unknown users still cost one scrypt run, so timing does not reveal which names exist.
    const ok = await verifyPassword(password, user?.hash ?? DUMMY_HASH);
    if (!user || !ok) return undefined;
    const iat = Math.floor(now / 1000);
    const token = await new SignJWT({ role: user.role })
      .setProtectedHeader({ alg: 'Ed25519', kid: this.identity.keys.kid })
      .setSubject(name)
      .setAudience(SESSION_AUDIENCE)
      .setIssuer(this.identity.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.sessionSeconds)
      .sign(this.identity.keys.privateKey);
    return { token, role: user.role, expiresAt: (iat + this.sessionSeconds) * 1000 };
  }

  /** Resolves a bearer credential (session or API token) to a principal, or undefined. */
  async authenticate(credential: string | undefined, now: number): Promise<Principal | undefined> {
    if (!credential) return undefined;
    if (credential.startsWith('bsk_')) {
      const token = this.tokens.get(hashApiToken(credential));
      return token ? { name: `token:${token.name}`, role: token.role, via: 'api-token' } : undefined;
    }
    try {
      const { payload } = await jwtVerify(credential, this.identity.keys.publicKey, {
        algorithms: ['Ed25519'],
        audience: SESSION_AUDIENCE,
        issuer: this.identity.id,
        currentDate: new Date(now),
      });
      const role = payload.role === 'admin' || payload.role === 'viewer' ? payload.role : undefined;
      return role && typeof payload.sub === 'string'
        ? { name: payload.sub, role, via: 'session' }
        : undefined;
    } catch (error) {
      if (error instanceof errors.JOSEError) return undefined;
      throw error;
    }
  }

  async createToken(name: string, role: Role, now: number): Promise<{ token: string; record: ApiToken }> {
    const created = await this.store.create(name, role, new Date(now));
    this.tokens.set(hashApiToken(created.token), created.record);
    this.store.remember(this.tokens);
    return created;
  }

  listTokens(): ApiToken[] {
    return [...this.tokens.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    const hash = await this.store.revoke(id, new Date(now));
    if (hash) {
      this.tokens.delete(hash);
      this.store.remember(this.tokens);
    }
    return hash !== undefined;
  }
}

const DUMMY_HASH = hashPassword(randomBytes(12).toString('hex'));
