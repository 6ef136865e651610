import {
  type Ack,
  agentTokenHost,
  type CommandBody,
  type ControllerMessage,
  importPublicKey,
  PROTOCOL_VERSION,
  ProtocolError,
  parseAgentMessage,
  signCommand,
  verifyAgentToken,
} from '@blackstart/agent-protocol';
import type {} from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { CryptoKey, JWK } from 'jose';
import type { WebSocket } from 'ws';
import type { ControllerIdentity } from '../identity.ts';
import type { Logger } from '../logger.ts';

export interface HubEvents {
  /** An agent acknowledged a step of a command. */
  ack(host: string, ack: Ack): void;
  connected(host: string, info: { version: string; hostname: string; powerAction: string }): void;
  disconnected(host: string): void;
}

interface Connection {
  socket: WebSocket;
  alive: boolean;
}

interface PendingCommand {
  jws: string;
  expiresAt: number;
}

/**
 * The WebSocket endpoint agents connect to. Agents authenticate before the upgrade with a
 * short-lived token signed by the key they enrolled; commands are signed by the controller and
 * kept until acknowledged, so an agent that reconnects still gets them.
 */
export class AgentHub {
  private readonly connections = new Map<string, Connection>();
  private readonly agentKeys = new Map<string, CryptoKey>();
  private readonly pending = new Map<string, Map<string, PendingCommand>>();
  private readonly usedNonces = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;
  private lastUpsState: string | undefined;

  constructor(
    private readonly identity: ControllerIdentity,
    private readonly events: HubEvents,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    private readonly pingIntervalMs = 15_000,
  ) {}

  /** Makes an enrolled agent's public key known (at start, and when an agent enrolls). */
  async trustAgent(host: string, publicJwk: JWK): Promise<void> {
    this.agentKeys.set(host, await importPublicKey(publicJwk));
  }

  isConnected(host: string): boolean {
    return this.connections.has(host);
  }

  connectedHosts(): string[] {
    return [...this.connections.keys()].sort();
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
    const previous = this.connections.get(host);
    if (previous) previous.socket.close(4000, 'replaced by a newer connection');
    const connection: Connection = { socket, alive: true };
    let identified = false;
    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return socket.close(1003, 'text frames only');
      const raw = data as Buffer;
      try {
        const message = parseAgentMessage(raw);
        if (message.type === 'hello') {
          if (message.host !== host)
            return this.reject(
              socket,
              'host-mismatch',
              `authenticated as '${host}', hello says '${message.host}'`,
              true,
            );
          if (identified) return;
          identified = true;
          this.connections.set(host, connection);
          this.send(socket, {
            type: 'welcome',
            protocol: PROTOCOL_VERSION,
            controller: this.identity.id,
            serverTime: this.clock(),
          });
          if (this.lastUpsState) socket.send(this.lastUpsState);
          this.events.connected(host, {
            version: message.version,
            hostname: message.hostname,
            powerAction: message.powerAction,
          });
          this.deliverPending(host);
          return;
        }
        if (!identified) return this.reject(socket, 'not-identified', 'send hello first', true);
        if (message.type === 'ack') {
          if (message.step === 'powering-off' || message.step === 'failed' || message.step === 'cancelled')
            this.pending.get(host)?.delete(message.commandId);
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
      if (this.connections.get(host) === connection) {
        this.connections.delete(host);
        this.events.disconnected(host);
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
   * Signs a command for `host` and sends it, or keeps it until the agent connects. Resolves to
   * whether it went out now.
   */
  async sendCommand(
    host: string,
    command: { id: string; body: CommandBody; ttlSeconds: number },
  ): Promise<'sent' | 'queued'> {
    const now = this.clock();
    const jws = await signCommand(this.identity.keys, {
      id: command.id,
      target: host,
      issuer: this.identity.id,
      ttlSeconds: command.ttlSeconds,
      now,
      body: command.body,
    });
    const forHost = this.pending.get(host) ?? new Map<string, PendingCommand>();
    this.pending.set(host, forHost);
    forHost.set(command.id, { jws, expiresAt: now + command.ttlSeconds * 1000 });
    const connection = this.connections.get(host);
    if (!connection) return 'queued';
    this.send(connection.socket, { type: 'command', jws });
    return 'sent';
  }

  private deliverPending(host: string): void {
    const forHost = this.pending.get(host);
    const connection = this.connections.get(host);
    if (!forHost || !connection) return;
    const now = this.clock();
    for (const [id, command] of forHost) {
      if (command.expiresAt <= now) forHost.delete(id);
      else this.send(connection.socket, { type: 'command', jws: command.jws });
    }
  }

  /** Streams the UPS state to every agent (and remembers it for agents that connect later). */
  broadcastUpsState(state: { onBattery: boolean; charge?: number; runtime?: number }): void {
    const message = JSON.stringify({
      type: 'ups-state',
      at: this.clock(),
      ...state,
    } satisfies ControllerMessage);
    this.lastUpsState = message;
    for (const { socket } of this.connections.values()) socket.send(message);
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

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const { socket } of this.connections.values()) socket.close(1001, 'controller shutting down');
    this.connections.clear();
  }
}
