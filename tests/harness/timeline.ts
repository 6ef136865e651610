/** A timeline event as `GET /api/v1/outages/:id/timeline` returns it (only what searches need). */
export interface TimelineEventLike {
  kind: string;
  host: string | null;
  source: string | null;
  data: Record<string, unknown>;
}

/** Index of the first timeline event of `kind` matching `where`, or -1. */
export function indexOfEvent(
  timeline: { events: readonly TimelineEventLike[] },
  kind: string,
  where: { host?: string; source?: string; step?: string; message?: RegExp } = {},
): number {
  return timeline.events.findIndex(
    (e) =>
      e.kind === kind &&
      (where.host === undefined || e.host === where.host) &&
      (where.source === undefined || e.source === where.source) &&
      (where.step === undefined || e.data.step === where.step) &&
      (where.message === undefined || where.message.test(String(e.data.message))),
  );
}
