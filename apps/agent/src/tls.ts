import { createHash, X509Certificate } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import { connect, type PeerCertificate } from 'node:tls';

/** `sha256:<hex>` of a certificate's DER encoding, as the controller prints it. */
export function certificateFingerprint(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

export class PinMismatch extends Error {
  override name = 'PinMismatch';
}

/**
 * TLS options that trust exactly one certificate: it is the only trust anchor, and the peer must
 * present it byte for byte. Host names are not checked — the pin is stronger than a name.
 */
export function pinnedTlsOptions(pem: string): {
  ca: string;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  const expected = certificateFingerprint(new X509Certificate(pem).raw);
  return {
    ca: pem,
    checkServerIdentity: (_host, cert) => {
      const actual = certificateFingerprint(cert.raw);
      return actual === expected
        ? undefined
        : new PinMismatch(`controller presented certificate ${actual}, pinned ${expected}`);
    },
  };
}

/**
 * Fetches the certificate a TLS server presents, without sending a single byte of application data,
 * and checks it against the pinned fingerprint. Returns it as PEM.
 */
export function fetchPinnedCertificate(
  url: string,
  fingerprint: string,
  timeoutMs = 10_000,
): Promise<string> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port: Number(target.port || 443),
      ...(isIP(host) === 0 && { servername: host }),
      // Verification is the pin check below; nothing is written before it passes.
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('timeout', () => fail(new Error(`TLS handshake with ${target.host} timed out`)));
    socket.once('error', (error) => fail(new Error(`cannot reach ${target.host}: ${error.message}`)));
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate(false).raw;
      socket.end();
      if (!der) return reject(new Error(`${target.host} presented no certificate`));
      const actual = certificateFingerprint(der);
      if (actual !== fingerprint)
        return reject(
          new PinMismatch(
            `controller ${target.host} presented certificate ${actual}, which does not match the pin ${fingerprint}; refusing to send the enrollment token`,
          ),
        );
      resolve(new X509Certificate(der).toString());
    });
  });
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** POSTs JSON over HTTP(S) with the given TLS options (a pinned certificate, or the system CAs). */
export function postJson(
  url: string,
  body: unknown,
  options: {
    tls?: Pick<RequestOptions, 'ca' | 'checkServerIdentity'>;
    timeoutMs?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<JsonResponse> {
  const target = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-type': 'application/json', 'content-length': payload.length },
        timeout: options.timeoutMs ?? 15_000,
        ...(target.protocol === 'https:' && options.tls),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > 1024 * 1024) req.destroy(new Error('response larger than 1 MiB'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = {};
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { message: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.host}`)));
    req.on('error', reject);
    req.end(payload);
  });
}
