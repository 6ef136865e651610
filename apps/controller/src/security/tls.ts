// @peculiar/x509 resolves its crypto provider through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** `sha256:<hex>` of the certificate's DER: what agents pin at install. */
  fingerprint: string;
}

export function certificateFingerprint(pem: string): string {
  return `sha256:${createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')}`;
}

/**
 * The controller's HTTPS certificate: the configured one, or a self-signed ECDSA P-256 certificate
 * created at first start in the data directory (key 0600) for this host's names and addresses.
 * Agents do not need a CA: the install command pins this certificate's fingerprint.
 */
export async function loadOrCreateCertificate(dataDir: string, names: string[]): Promise<TlsMaterial> {
  const certFile = join(dataDir, 'tls-cert.pem');
  const keyFile = join(dataDir, 'tls-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    return { cert, key: readFileSync(keyFile, 'utf8'), fingerprint: certificateFingerprint(cert) };
  }
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const all = [...new Set([hostname(), 'localhost', '127.0.0.1', '::1', ...names])];
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto
      .getRandomValues(new Uint8Array(16))
      .reduce((s, b) => s + b.toString(16).padStart(2, '0'), '01'),
    name: `CN=Blackstart controller ${hostname()}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        all.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
      ),
    ],
  });
  const cert = certificate.toString('pem');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert);
  return { cert, key, fingerprint: certificateFingerprint(cert) };
}

export function readCertificateFiles(certPath: string, keyPath: string): TlsMaterial {
  const cert = readFileSync(certPath, 'utf8');
  return { cert, key: readFileSync(keyPath, 'utf8'), fingerprint: certificateFingerprint(cert) };
}
