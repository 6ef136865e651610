import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface ApiClientOptions {
  url: string;
  token: string;
  /** `sha256:<hex>` of the controller's certificate (what `blackstart serve` logs as tlsFingerprint). */
  fingerprint?: string;
  /** Accept any certificate (only for a first look at a self-signed controller). */
  insecure?: boolean;
  timeoutMs?: number;
}

/**
 * A small JSON client for the controller's API, for CLI commands run against a running controller.
 * Over HTTPS it verifies the certificate with the system CAs, or pins its SHA-256 fingerprint (the
 * self-signed certificate a controller makes at first start).
 */
export class ApiClient {
  constructor(private readonly options: ApiClientOptions) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const url = new URL(path, this.options.url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const https = url.protocol === 'https:';
    const pin = this.options.fingerprint
      ?.replace(/^sha256:/i, '')
      .replaceAll(':', '')
      .toLowerCase();
    return await new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(payload && { 'content-type': 'application/json', 'content-length': payload.length }),
          },
          timeout: this.options.timeoutMs ?? 15_000,
          ...(https && (pin || this.options.insecure) && { rejectUnauthorized: false }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      if (https && pin) {
        req.on('socket', (socket) => {
          socket.once('secureConnect', () => {
            const cert = (socket as TLSSocket).getPeerCertificate();
            const seen = cert.fingerprint256?.replaceAll(':', '').toLowerCase();
            if (seen !== pin)
              req.destroy(
                new Error(
                  `the controller's certificate is sha256:${seen ?? '?'}, not the pinned sha256:${pin}`,
                ),
              );
          });
        });
      }
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} in time`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
