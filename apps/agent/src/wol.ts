import { createSocket } from 'node:dgram';

/** A Wake-on-LAN magic packet: six 0xFF bytes, then the MAC sixteen times. */
export function magicPacket(mac: string): Buffer {
  const bytes = Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
  if (bytes.length !== 6) throw new Error(`'${mac}' is not a MAC address`);
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => bytes)]);
}

/** Sends one magic packet by UDP broadcast (port 9 by default) on this host's segment. */
export async function sendMagicPacket(
  mac: string,
  options: { broadcast?: string; port?: number } = {},
): Promise<void> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.setBroadcast(true);
        socket.send(magicPacket(mac), options.port ?? 9, options.broadcast ?? '255.255.255.255', (error) =>
          error ? reject(error) : resolve(),
        );
      });
    });
  } finally {
    socket.close();
  }
}
