import { useEffect, useState } from 'preact/hooks';
import type { LiveMessage, LiveState, Point, TimelineEvent } from './types.ts';

const HOUR_MS = 3600_000;

/**
 * The UI WebSocket (`/api/v1/live`, the session cookie authenticates it): a snapshot with the last
 * hour of readings, then state changes, readings and timeline events as they happen. Reconnects
 * with backoff; every reconnect starts again from a snapshot.
 */
export class LiveFeed {
  state: LiveState | null = null;
  /** Readings per UPS, the last hour. */
  readonly history = new Map<string, Point[]>();
  /** Timeline events of running outages as they were recorded, per outage id. */
  readonly events = new Map<string, TimelineEvent[]>();
  connection: 'connecting' | 'open' | 'closed' = 'closed';
  /** Bumped on every change: lets memoised views know. */
  revision = 0;
  private socket: WebSocket | undefined;
  private retry = 0;
  private timer: number | undefined;
  private stopped = true;
  private readonly listeners = new Set<() => void>();

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.socket?.close();
    this.socket = undefined;
    this.state = null;
    this.history.clear();
    this.events.clear();
    this.connection = 'closed';
    this.changed();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private connect(): void {
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/live`);
    this.socket = socket;
    this.connection = 'connecting';
    this.changed();
    socket.onopen = () => {
      this.retry = 0;
      this.connection = 'open';
      this.changed();
    };
    socket.onmessage = (message) => {
      try {
        this.apply(JSON.parse(String(message.data)) as LiveMessage);
      } catch (error) {
        console.error('live feed: bad message', error);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.connection = 'closed';
      this.changed();
      if (this.stopped) return;
      const delay = Math.min(10_000, 500 * 2 ** this.retry++);
      this.timer = window.setTimeout(() => this.connect(), delay);
    };
  }

  private apply(message: LiveMessage): void {
    switch (message.type) {
      case 'snapshot':
        this.state = message.state;
        this.history.clear();
        for (const [source, points] of Object.entries(message.history)) this.history.set(source, points);
        break;
      case 'state':
        this.state = message.state;
        break;
      case 'reading': {
        const points = this.history.get(message.source) ?? [];
        points.push(message.point);
        const cutoff = new Date(message.point.at).getTime() - HOUR_MS;
        let drop = 0;
        while (drop < points.length && new Date(points[drop]!.at).getTime() < cutoff) drop++;
        if (drop > 0) points.splice(0, drop);
        this.history.set(message.source, points);
        break;
      }
      case 'event': {
        const list = this.events.get(message.outage) ?? [];
        if (!list.some((e) => e.seq === message.event.seq)) list.push(message.event);
        this.events.set(message.outage, list);
        break;
      }
    }
    this.changed();
  }

  private changed(): void {
    this.revision++;
    for (const listener of this.listeners) listener();
  }
}

export const live = new LiveFeed();

/** Re-renders the component when the feed changes, at most once per animation frame. */
export function useLive(): LiveFeed {
  const [, setRevision] = useState(0);
  useEffect(() => {
    let frame = 0;
    const unsubscribe = live.subscribe(() => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setRevision(live.revision);
      });
    });
    return () => {
      unsubscribe();
      cancelAnimationFrame(frame);
    };
  }, []);
  return live;
}
