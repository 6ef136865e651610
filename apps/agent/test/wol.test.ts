import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { magicPacket, sendMagicPacket } from '../src/wol.ts';

test('a magic packet is six 0xFF bytes and the MAC sixteen times, and arrives over UDP', async () => {
  const packet = magicPacket('00:11:22:aa:bb:cc');
  assert.equal(packet.length, 102);
  assert.deepEqual([...packet.subarray(0, 6)], [255, 255, 255, 255, 255, 255]);
  for (let i = 0; i < 16; i++)
    assert.equal(packet.subarray(6 + i * 6, 12 + i * 6).toString('hex'), '001122aabbcc');
  assert.throws(() => magicPacket('00:11:22'), /not a MAC address/);

  const receiver = createSocket('udp4');
  await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
  const received = new Promise<Buffer>((resolve) => receiver.once('message', resolve));
  await sendMagicPacket('00-11-22-AA-BB-CC', { broadcast: '127.0.0.1', port: receiver.address().port });
  assert.deepEqual(await received, packet);
  receiver.close();
});
