// The fan-out benchmark's load generator, a process of its own: N agents, each with its own Ed25519
// key, connected to the controller over WebSocket the way blackstart-agent connects (a signed
// session token checked before the upgrade, then hello). Each acknowledges a shutdown command at
// once: `received`, then `powering-off` (a dry-run agent with no hooks does just that). The
// signature is not verified here (VERIFY=1 does it with node:crypto): on a real network every agent
// verifies on its own machine, while here all of them would share the controller's two cores.
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { generateSigningKeys, type KeyPair, signAgentToken } from '@blackstart/agent-protocol';
import type { JWK } from 'jose';
import WebSocket from 'ws';

type Parent =
  | { type: 'keys'; n: number; prefix: string }
  | { type: 'connect'; url: string; controller: string; controllerKey: JWK }
  | { type: 'stop' };

const send = (message: unknown) => process.send!(message);
let agents: Array<{ host: string; keys: KeyPair; socket?: WebSocket }> = [];
let controllerPublic: ReturnType<typeof createPublicKey> | undefined;
const verifyEach = process.env.VERIFY === '1';

function onCommand(agent: { host: string; socket?: WebSocket }, jws: string): void {
  const [header, payload, signature] = jws.split('.');
  if (verifyEach && controllerPublic) {
    const ok = verify(
      null,
      Buffer.from(`${header}.${payload}`),
      controllerPublic,
      Buffer.from(signature!, 'base64url'),
    );
    if (!ok) throw new Error('bad signature');
  }
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { jti: string; action: string };
  const ack = (step: string) =>
    agent.socket?.send(JSON.stringify({ type: 'ack', commandId: claims.jti, step, at: Date.now() }));
  if (claims.action === 'shutdown') {
    ack('received');
    ack('powering-off');
  } else if (claims.action === 'cancel') ack('cancelled');
}

async function connect(agent: (typeof agents)[number], url: string, controller: string): Promise<void> {
  const token = await signAgentToken(agent.keys, {
    host: agent.host,
    controller,
    now: Date.now(),
    nonce: randomUUID(),
  });
  await new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/agent`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    agent.socket = socket;
    socket.once('error', reject);
    socket.once('open', () => {
      socket.send(
        JSON.stringify({
          type: 'hello',
          protocol: 1,
          host: agent.host,
          version: 'bench',
          hostname: agent.host,
          powerAction: 'dry-run',
        }),
      );
    });
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { type: string; jws?: string };
      if (message.type === 'welcome') resolve();
      else if (message.type === 'command' && message.jws) onCommand(agent, message.jws);
    });
  });
}

process.on('message', async (message: Parent) => {
  if (message.type === 'keys') {
    agents = [];
    for (let i = 0; i < message.n; i++)
      agents.push({ host: `${message.prefix}${i}`, keys: await generateSigningKeys() });
    send({ type: 'keys', agents: agents.map((a) => ({ host: a.host, jwk: a.keys.publicJwk })) });
  } else if (message.type === 'connect') {
    controllerPublic = createPublicKey({ key: message.controllerKey as never, format: 'jwk' });
    const started = performance.now();
    // At most 256 handshakes in flight: what a fleet reconnecting with jitter looks like, roughly.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(256, agents.length) }, async () => {
        while (next < agents.length) {
          const agent = agents[next++]!;
          await connect(agent, message.url, message.controller);
        }
      }),
    );
    send({ type: 'connected', ms: performance.now() - started });
  } else if (message.type === 'stop') {
    for (const a of agents) a.socket?.terminate();
    process.exit(0);
  }
});
send({ type: 'ready' });
