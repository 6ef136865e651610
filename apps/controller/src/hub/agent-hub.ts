import { EventEmitter } from 'node:events';
import {
  type Ack,
  agentTokenHost,
  type CommandBody,
  type ControllerMessage,
  importPublicKey,
  PROTOCOL_VERSION,
  ProtocolError,
  parseAgentMessage,
  verifyAgentToken,
} from '@blackstart/agent-protocol';
import type {} from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { CryptoKey, JWK } from 'jose';
import type { WebSocket } from 'ws';
import type { ControllerIdentity } from '../identity.ts';
import type { Logger } from '../logger.ts';
import { CommandSigner, type SignableCommand } from './signer.ts';

export interface HubEvents {
  /** An agent acknowledged a step of a command. */
  ack(host: string, ack: Ack): void;
  connected(host: string, info: AgentInfo): void;
  disconnected(host: string): void;
}

export interface AgentInfo {
  version: string;
  hostname: string;
  powerAction: string;
  bootId?: string;
}

/** What the hub tells listeners (benchmarks, the drill) as commands leave. */
export interface HubEmitterEvents {
  /** A signed command was written to an agent's socket. */
  'command-sent': [{ host: string; commandId: string; at: number }];
  /** An acknowledgement arrived (emitted as it is read, before the runtime sees it). */
  'ack-received': [{ host: string; ack: Ack }];
  /** An agent said hello, or its connection closed. */
  'agent-link': [{ host: string; connected: boolean }];
}

interface Connection {
  socket: WebSocket;
  alive: boolean;
  info?: AgentInfo;
  connectedAt: number;
}

interface PendingCommand {
  jws: string;
  expiresAt: number;
}

export interface OutgoingCommand {
  host: string;
  id: string;
  body: CommandBody;
  ttlSeconds: number;
}

export type Delivery = 'sent' | 'queued' | 'already-pending';

/** Steps after which an agent has nothing more to say about a command. */
const FINAL_STEPS = new Set(['powering-off', 'failed', 'cancelled', 'done']);
const HELLO_TIMEOUT_MS = 10_000;
/** Signatures a fan-out keeps in flight on the thread pool. */
const SIGNING_IN_FLIGHT = 256;
/** Between changes, the UPS state goes to agents at most this often (it is their lifeline, not a feed). */
const UPS_STATE_EVERY_MS = 5000;

/**
 * The WebSocket endpoint agents connect to. Agents authenticate before the upgrade with a
 * short-lived token signed by the key they enrolled; commands are signed by the controller and
 * kept until acknowledged, so an agent that reconnects still gets them.
 */
export class AgentHub extends EventEmitter<HubEmitterEvents> {
  private readonly connections = new Map<string, Connection>();
  private readonly agentKeys = new Map<string, CryptoKey>();
  private readonly pending = new Map<string, Map<string, PendingCommand>>();
  private readonly usedNonces = new Map<string, number>();
  private readonly signer: CommandSigner;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastUpsState: { onBattery: boolean; charge?: number; runtime?: number; sentAt: number } | undefined;
  private upsStateFrame: Buffer | undefined;

  constructor(
    private readonly identity: ControllerIdentity,
    private readonly events: HubEvents,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    private readonly pingIntervalMs = 15_000,
  ) {
    super();
    this.signer = new CommandSigner(identity.keys);
  }

  /** Makes an enrolled agent's public key known (at start, and when an agent enrolls). */
  async trustAgent(host: string, publicJwk: JWK): Promise<void> {
    this.agentKeys.set(host, await importPublicKey(publicJwk));
  }

  isConnected(host: string): boolean {
    return this.connections.get(host)?.info !== undefined;
  }

  connectedHosts(): string[] {
    return [...this.connections.entries()]
      .filter(([, c]) => c.info)
      .map(([host]) => host)
      .sort();
  }

  get connectedCount(): number {
    return this.connections.size;
  }

  /** Connected agents with what they said in their hello. */
  agents(): Array<AgentInfo & { host: string; connectedAt: number }> {
    return [...this.connections.entries()]
      .filter(([, c]) => c.info)
      .map(([host, c]) => ({ host, connectedAt: c.connectedAt, ...c.info! }))
      .sort((a, b) => a.host.localeCompare(b.host));
  }

  register(app: FastifyInstance): void {
    this.heartbeat = setInterval(() => this.pingAll(), this.pingIntervalMs);
    this.heartbeat.unref();
    app.get(
      '/ws/agent',
      {
        websocket: true,
        // Authentication happens before the upgrade: a bad token never gets a WebSocket.
        preValidation: async (request, reply) => {
          const header = request.headers.authorization ?? '';
          const token = header.startsWith('Bearer ') ? header.slice(7) : '';
          const host = agentTokenHost(token);
          const key = host ? this.agentKeys.get(host) : undefined;
          if (!host || !key) return reply.code(401).send({ error: 'unknown agent' });
          try {
            const { nonce } = await verifyAgentToken(token, { agentKey: key, host, now: this.clock() });
            if (this.usedNonces.has(nonce)) return reply.code(401).send({ error: 'token already used' });
            this.usedNonces.set(nonce, this.clock() + 600_000);
            (request as { agentHost?: string }).agentHost = host;
          } catch (error) {
            this.log.warn({ host, err: (error as Error).message }, 'agent authentication failed');
            return reply.code(401).send({ error: 'invalid agent token' });
          }
        },
      },
      (socket, request) => {
        const host = (request as { agentHost?: string }).agentHost!;
        this.accept(host, socket);
      },
    );
  }

  private accept(host: string, socket: WebSocket): void {
    const connection: Connection = { socket, alive: true, connectedAt: this.clock() };
    // An authenticated socket that never says hello is closed rather than kept.
    const helloTimer = setTimeout(() => {
      if (!connection.info) socket.close(1008, 'no hello');
    }, HELLO_TIMEOUT_MS);
    helloTimer.unref();
    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return socket.close(1003, 'text frames only');
      try {
        const message = parseAgentMessage(data as Buffer);
        if (message.type === 'hello') {
          if (message.host !== host)
            return this.reject(
              socket,
              'host-mismatch',
              `authenticated as '${host}', hello says '${message.host}'`,
              true,
            );
          if (connection.info) return;
          clearTimeout(helloTimer);
          const previous = this.connections.get(host);
          if (previous && previous !== connection)
            previous.socket.close(4000, 'replaced by a newer connection');
          connection.info = {
            version: message.version,
            hostname: message.hostname,
            powerAction: message.powerAction,
            ...(message.bootId !== undefined && { bootId: message.bootId }),
          };
          this.connections.set(host, connection);
          this.send(socket, {
            type: 'welcome',
            protocol: PROTOCOL_VERSION,
            controller: this.identity.id,
            serverTime: this.clock(),
          });
          if (this.upsStateFrame) socket.send(this.upsStateFrame, { binary: false });
          this.events.connected(host, connection.info);
          this.emit('agent-link', { host, connected: true });
          this.deliverPending(host);
          return;
        }
        if (!connection.info) return this.reject(socket, 'not-identified', 'send hello first', true);
        if (message.type === 'ack') {
          if (this.listenerCount('ack-received') > 0) this.emit('ack-received', { host, ack: message });
          if (FINAL_STEPS.has(message.step)) this.pending.get(host)?.delete(message.commandId);
          this.events.ack(host, message);
        }
      } catch (error) {
        if (error instanceof ProtocolError) {
          this.log.warn({ host, code: error.code, err: error.message }, 'malformed message from agent');
          return this.reject(socket, error.code, error.message, error.code === 'too-large');
        }
        throw error;
      }
    });
    socket.on('close', () => {
      clearTimeout(helloTimer);
      if (this.connections.get(host) === connection) {
        this.connections.delete(host);
        this.events.disconnected(host);
        this.emit('agent-link', { host, connected: false });
      }
    });
    socket.on('error', (error) => this.log.warn({ host, err: error.message }, 'agent socket error'));
  }

  private reject(socket: WebSocket, code: string, message: string, close: boolean): void {
    this.send(socket, { type: 'error', code, message });
    if (close) socket.close(1008, code);
  }

  private send(socket: WebSocket, message: ControllerMessage): void {
    socket.send(JSON.stringify(message));
  }

  /**
   * Signs a command for its host and sends it, or keeps it until the agent connects. A command
   * whose id is already waiting for that host is not signed again (a restart re-issuing what the
   * journal shows outstanding, or a retried job).
   */
  sendCommand(command: OutgoingCommand): Delivery {
    const prepared = this.prepare(command);
    if (prepared === 'already-pending') return prepared;
    return this.deliver(command, prepared.signable, this.signer.sign(prepared.signable));
  }

  /**
   * Sends many commands (a fan-out): signed on the thread pool, each written as soon as it is
   * signed, so this thread only writes while other cores sign. Resolves with each delivery.
   */
  async sendCommands(commands: readonly OutgoingCommand[]): Promise<Delivery[]> {
    const out = new Array<Delivery>(commands.length);
    let next = 0;
    // A bounded pipeline: the first commands leave at once, and this thread keeps writing (and
    // reading acknowledgements) instead of queueing thousands of signatures up front.
    const lane = async () => {
      while (next < commands.length) {
        const i = next++;
        const command = commands[i]!;
        const prepared = this.prepare(command);
        out[i] =
          prepared === 'already-pending'
            ? prepared
            : this.deliver(command, prepared.signable, await this.signer.signAsync(prepared.signable));
      }
    };
    await Promise.all(Array.from({ length: Math.min(SIGNING_IN_FLIGHT, commands.length) }, lane));
    return out;
  }

  private prepare(command: OutgoingCommand): 'already-pending' | { signable: SignableCommand } {
    const existing = this.pending.get(command.host)?.get(command.id);
    if (existing && existing.expiresAt > this.clock()) return 'already-pending';
    return {
      signable: {
        id: command.id,
        target: command.host,
        issuer: this.identity.id,
        ttlSeconds: command.ttlSeconds,
        now: this.clock(),
        body: command.body,
      },
    };
  }

  private deliver(command: OutgoingCommand, signed: SignableCommand, jws: string): Delivery {
    const forHost = this.pending.get(command.host) ?? new Map<string, PendingCommand>();
    this.pending.set(command.host, forHost);
    forHost.set(command.id, { jws, expiresAt: signed.now + command.ttlSeconds * 1000 });
    const connection = this.connections.get(command.host);
    if (!connection?.info) return 'queued';
    this.send(connection.socket, { type: 'command', jws });
    if (this.listenerCount('command-sent') > 0)
      this.emit('command-sent', { host: command.host, commandId: command.id, at: this.clock() });
    return 'sent';
  }

  /** Forgets a command that no longer matters (its host is past it); it is not re-sent on reconnect. */
  forget(host: string, commandId: string): void {
    this.pending.get(host)?.delete(commandId);
  }

  private deliverPending(host: string): void {
    const forHost = this.pending.get(host);
    const connection = this.connections.get(host);
    if (!forHost || !connection) return;
    const now = this.clock();
    for (const [id, command] of forHost) {
      if (command.expiresAt <= now) forHost.delete(id);
      else {
        this.send(connection.socket, { type: 'command', jws: command.jws });
        if (this.listenerCount('command-sent') > 0)
          this.emit('command-sent', { host, commandId: id, at: this.clock() });
      }
    }
  }

  /**
   * Streams the UPS state to every agent (and remembers it for agents that connect later): at once
   * when on-battery changes, otherwise at most every few seconds — agents use it to protect
   * themselves if the controller disappears, and thousands of them should not be sent every poll.
   */
  broadcastUpsState(state: { onBattery: boolean; charge?: number; runtime?: number }): void {
    const now = this.clock();
    const last = this.lastUpsState;
    if (last && last.onBattery === state.onBattery && now - last.sentAt < UPS_STATE_EVERY_MS) return;
    this.lastUpsState = { ...state, sentAt: now };
    this.upsStateFrame = Buffer.from(
      JSON.stringify({ type: 'ups-state', at: now, ...state } satisfies ControllerMessage),
    );
    for (const { socket, info } of this.connections.values())
      if (info) socket.send(this.upsStateFrame, { binary: false });
  }

  private pingAll(): void {
    const now = this.clock();
    for (const [nonce, expires] of this.usedNonces) if (expires < now) this.usedNonces.delete(nonce);
    for (const [host, connection] of this.connections) {
      if (!connection.alive) {
        this.log.warn({ host }, 'agent missed a heartbeat; dropping the connection');
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  /**
   * Closes every agent connection: politely, then — for an agent whose link is dead and will never
   * answer the close handshake — by force after `graceMs`.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const sockets = [...this.connections.values()].map((c) => c.socket);
    this.connections.clear();
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === socket.CLOSED) return resolve();
            const timer = setTimeout(() => socket.terminate(), graceMs);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.close(1001, 'controller shutting down');
          }),
      ),
    );
  }
}
