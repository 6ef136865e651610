import type { PlanError } from './types.ts';

/** An answer other than 2xx: the server's message, and the field errors of a refused plan. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: PlanError[] = [],
  ) {
    super(message);
  }
}

const unauthorizedListeners = new Set<() => void>();

/** Called when any request answers 401: the session expired or was never there. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** JSON over the session cookie (`bs_session`, httpOnly: the UI never sees the token). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    if (response.status === 401 && !path.endsWith('/auth/login'))
      for (const listener of unauthorizedListeners) listener();
    const error = (parsed ?? {}) as { error?: string; message?: string; errors?: PlanError[] };
    throw new ApiError(
      response.status,
      error.message ?? error.error ?? `${response.status} ${response.statusText}`,
      Array.isArray(error.errors) ? error.errors : [],
    );
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const put = <T>(path: string, body: unknown) => api<T>('PUT', path, body);

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
