import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  generateSigningKeys,
  importPublicKey,
  importSigningKeys,
  type KeyPair,
} from '@blackstart/agent-protocol';
import type { CryptoKey, JWK } from 'jose';

/**
 * What the agent keeps in its state directory: its own key (0600), the controller's pinned key,
 * and the ids of every command it has received (so a replay is refused even after a restart).
 */
export class AgentState {
  private readonly seen = new Map<string, number>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = this.path('seen-commands');
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const [id, expires] = line.split(' ');
        // A line cut short by a crash is skipped, not trusted.
        if (id && expires && Number.isFinite(Number(expires))) this.seen.set(id, Number(expires));
      }
    }
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  async keys(): Promise<KeyPair> {
    const file = this.path('agent-key.json');
    if (existsSync(file)) return importSigningKeys(JSON.parse(readFileSync(file, 'utf8')) as JWK);
    const generated = await generateSigningKeys();
    writeFileSync(file, `${JSON.stringify(generated.privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
    return generated;
  }

  /** The controller key stored at enrollment, or undefined before enrolling. */
  async controllerKey(): Promise<{ key: CryptoKey; jwk: JWK } | undefined> {
    const file = this.path('controller-key.json');
    if (!existsSync(file)) return undefined;
    const jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
    return { key: await importPublicKey(jwk), jwk };
  }

  saveControllerKey(jwk: JWK): void {
    writeFileSync(this.path('controller-key.json'), `${JSON.stringify(jwk)}\n`, { mode: 0o600 });
  }

  /** The controller's TLS certificate pinned at enrollment (PEM), when enrolled by certificate pin. */
  controllerCertificate(): string | undefined {
    const file = this.path('controller-cert.pem');
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  saveControllerCertificate(pem: string): void {
    writeFileSync(this.path('controller-cert.pem'), pem, { mode: 0o600 });
  }

  /** Where the agent stands, for the install script's check and for people (`status.json`). */
  writeStatus(status: Record<string, unknown>): void {
    const file = this.path('status.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(status)}\n`, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
  }

  hasSeen(id: string): boolean {
    return this.seen.has(id);
  }

  /** Remembers a command id until a while after it expires (an expired command is refused anyway). */
  markSeen(id: string, expiresAt: number): void {
    const keepUntil = expiresAt + 24 * 3600_000;
    this.seen.set(id, keepUntil);
    appendFileSync(this.path('seen-commands'), `${id} ${keepUntil}\n`, { mode: 0o600 });
  }

  /** Drops ids past their keep-until time and rewrites the file. */
  pruneSeen(now: number): void {
    let dropped = false;
    for (const [id, until] of this.seen) {
      if (until < now) {
        this.seen.delete(id);
        dropped = true;
      }
    }
    if (dropped)
      writeFileSync(
        this.path('seen-commands'),
        [...this.seen].map(([id, until]) => `${id} ${until}\n`).join(''),
        { mode: 0o600 },
      );
  }

  appendDryRun(entry: Record<string, unknown>): void {
    appendFileSync(this.path('dry-run.jsonl'), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }
}
