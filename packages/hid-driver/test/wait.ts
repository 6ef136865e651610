import type { HidUps, HidUpsEvents } from '../src/index.ts';

/** Resolves with the next `event` matching `accept`, or rejects after `timeoutMs` (bounded wait). */
export function nextEvent<K extends keyof HidUpsEvents>(
  ups: HidUps,
  event: K,
  accept: (...args: HidUpsEvents[K]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<HidUpsEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: HidUpsEvents[K]) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      ups.off(event, listener as never);
      resolve(args[0]);
    };
    // A referenced timer: it also keeps the event loop alive while the driver's own timers are unref'd.
    const timer = setTimeout(() => {
      ups.off(event, listener as never);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    ups.on(event, listener as never);
  });
}
