import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me } from './types.ts';

export const SessionContext = createContext<Me | null>(null);

/** Only the admin changes anything; a viewer sees the same screens without their controls. */
export function useIsAdmin(): boolean {
  return useContext(SessionContext)?.role === 'admin';
}

let announcer: HTMLElement | null = null;

/** Says something to screen readers (an aria-live region), e.g. "nas moved before app". */
export function announce(text: string): void {
  announcer ??= document.getElementById('announcer');
  if (!announcer) return;
  announcer.textContent = '';
  // A fresh text node after a tick, so the same message twice is read twice.
  window.setTimeout(() => {
    if (announcer) announcer.textContent = text;
  }, 30);
}
