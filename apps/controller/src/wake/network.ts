import { createSocket } from 'node:dgram';
import { isIP, Socket } from 'node:net';

/** A Wake-on-LAN magic packet: six 0xFF bytes, then the MAC sixteen times. */
export function magicPacket(mac: string): Buffer {
  const bytes = Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
  if (bytes.length !== 6 || !/^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$/i.test(mac))
    throw new Error(`'${mac}' is not a MAC address`);
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => bytes)]);
}

export interface WakeTarget {
  broadcast: string;
  port: number;
}

/**
 * Sends one magic packet for `mac` to each target (UDP broadcast, IPv4 or IPv6 by address).
 * Resolves with what was sent where; rejects only when no packet could be sent at all.
 */
export async function sendMagicPackets(mac: string, targets: readonly WakeTarget[]): Promise<string[]> {
  const packet = magicPacket(mac);
  const results = await Promise.allSettled(
    targets.map(async (t) => {
      const socket = createSocket(isIP(t.broadcast) === 6 ? 'udp6' : 'udp4');
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(0, () => {
            socket.setBroadcast(true);
            socket.send(packet, t.port, t.broadcast, (error) => (error ? reject(error) : resolve()));
          });
        });
        return `${t.broadcast}:${t.port}`;
      } finally {
        socket.close();
      }
    }),
  );
  const sent = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (sent.length === 0) {
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : ''));
    throw new Error(`no Wake-on-LAN packet could be sent: ${reasons.join('; ')}`);
  }
  return sent;
}

/** Resolves true when a TCP connection to host:port opens within `timeoutMs`, false otherwise. */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}
