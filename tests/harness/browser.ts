// Headless Debian Chromium for the UI's browser test and benchmark (kept out of index.ts so that
// other tests do not load playwright-core).
import { type Browser, chromium } from 'playwright-core';

/**
 * Launches Chromium at `executablePath` with a fresh temporary profile, without the background
 * traffic (updates, sync, QUIC probes) that would leave loopback.
 */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
