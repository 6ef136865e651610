import { randomBytes } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import {
  type AgentMessage,
  type ControllerMessage,
  type KeyPair,
  MAX_MESSAGE_BYTES,
  ProtocolError,
  parseControllerMessage,
  signAgentToken,
} from '@blackstart/agent-protocol';
import type { Logger } from 'pino';
import WebSocket from 'ws';

export interface ConnectionOptions {
  controllerUrl: string;
  host: string;
  keys: KeyPair;
  log: Logger;
  onMessage(message: ControllerMessage): void;
  /** `send` answers false when the link is already gone again. */
  onOpen(send: (message: AgentMessage) => boolean): void;
  /** The connection ended; `wasOpen` is false when an attempt failed before the WebSocket opened. */
  onClose(wasOpen: boolean): void;
  /** For a controller pinned by certificate: trust exactly that certificate (see `pinnedTlsOptions`). */
  tls?: { ca: string; checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined };
  /** Backoff bounds for reconnecting, in ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The agent pings the controller this often (ms); any frame from it counts as a sign of life. */
  heartbeatMs?: number;
}

/**
 * The agent's outbound WebSocket to the controller: authenticates with a fresh short-lived token
 * signed by the agent's key, reconnects with exponential backoff and jitter, and treats a silent
 * controller (no pings) as gone.
 */
export class ControllerConnection {
  private socket: WebSocket | undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: ConnectionOptions) {}

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.connect().catch((error: unknown) => {
      this.options.log.warn({ err: (error as Error).message }, 'cannot connect');
      this.scheduleReconnect();
    });
  }

  private wsUrl(): string {
    const url = new URL(this.options.controllerUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `${url.pathname.replace(/\/$/, '')}/ws/agent`;
    return url.toString();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const { keys, host, log } = this.options;
    const token = await signAgentToken(keys, {
      host,
      controller: this.options.controllerUrl,
      now: Date.now(),
      ttlSeconds: 60,
      nonce: randomBytes(16).toString('base64url'),
    });
    const socket = new WebSocket(this.wsUrl(), {
      headers: { authorization: `Bearer ${token}` },
      maxPayload: MAX_MESSAGE_BYTES,
      handshakeTimeout: 10_000,
      ...this.options.tls,
    });
    this.socket = socket;
    let opened = false;
    socket.on('open', () => {
      opened = true;
      this.attempt = 0;
      this.touch();
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.ping();
      }, this.heartbeatMs);
      log.info({ controller: this.options.controllerUrl }, 'connected to the controller');
      this.options.onOpen((message) => this.send(message));
    });
    socket.on('ping', () => this.touch());
    socket.on('pong', () => this.touch());
    socket.on('message', (data, isBinary) => {
      this.touch();
      if (isBinary) return;
      try {
        this.options.onMessage(parseControllerMessage(data as Buffer));
      } catch (error) {
        if (error instanceof ProtocolError)
          log.warn({ err: error.message }, 'malformed message from the controller');
        else log.error({ err: error }, 'handling a controller message failed');
      }
    });
    socket.on('unexpected-response', (_req, res) => {
      log.warn(
        { status: res.statusCode },
        res.statusCode === 401
          ? 'controller refused the agent token (not enrolled there, or the key changed); re-enroll with a new token'
          : 'controller refused the connection',
      );
      socket.terminate();
    });
    socket.on('error', (error) =>
      // A pin mismatch is loud: it means someone else answers at the controller's address.
      error.name === 'PinMismatch' || /certificate/i.test(error.message)
        ? log.error({ err: error.message }, 'controller TLS check failed')
        : log.debug({ err: error.message }, 'connection error'),
    );
    socket.on('close', (code, reason) => {
      if (this.livenessTimer) clearTimeout(this.livenessTimer);
      if (this.heartbeatTimer && this.socket === socket) clearInterval(this.heartbeatTimer);
      if (this.socket === socket) this.socket = undefined;
      if (opened) log.warn({ code, reason: reason.toString() }, 'connection to the controller closed');
      this.options.onClose(opened);
      this.scheduleReconnect();
    });
  }

  private get heartbeatMs(): number {
    return this.options.heartbeatMs ?? 15_000;
  }

  /** Three heartbeats without a frame from the controller: the link is dead (a cut cable sends no FIN). */
  private touch(): void {
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    const socket = this.socket;
    this.livenessTimer = setTimeout(() => {
      this.options.log.warn('no sign of life from the controller; dropping the connection');
      socket?.terminate();
    }, this.heartbeatMs * 3);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const base = Math.min(max, min * 2 ** this.attempt++);
    // Full jitter: many agents losing the controller together do not reconnect in lockstep.
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect().catch((error: unknown) => {
        this.options.log.warn({ err: (error as Error).message }, 'cannot connect');
        this.scheduleReconnect();
      });
    }, delay);
  }

  send(message: AgentMessage): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const socket = this.socket;
    socket?.close(1000, 'agent stopping');
    // A controller that does not answer the close within a second is not waited for.
    if (socket) setTimeout(() => socket.terminate(), 1000).unref();
  }
}
