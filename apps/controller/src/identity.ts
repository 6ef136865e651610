import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKeys, importSigningKeys, type KeyPair } from '@blackstart/agent-protocol';
import type { JWK } from 'jose';

export interface ControllerIdentity {
  /** Stable id of this controller: the first 16 characters of its key's thumbprint. */
  id: string;
  keys: KeyPair;
}

/**
 * The controller's Ed25519 signing key, created at first start in the data directory (mode 0600).
 * Agents pin its public key at install and verify every command against it.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<ControllerIdentity> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'controller-key.json');
  let keys: KeyPair;
  if (existsSync(file)) {
    keys = await importSigningKeys(JSON.parse(readFileSync(file, 'utf8')) as JWK);
  } else {
    const generated = await generateSigningKeys();
    writeFileSync(file, `${JSON.stringify(generated.privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
    keys = generated;
  }
  return { id: `ctl-${keys.kid.slice(0, 16)}`, keys };
}
