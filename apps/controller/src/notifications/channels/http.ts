/** A delivery that did not go through. `permanent`: retrying cannot help (e.g. the URL is gone). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export interface PostResult {
  status: number;
  body: string;
}

/**
 * POSTs `body` as JSON and returns the answer; a non-2xx status or a network error throws a
 * `DeliveryError` that never contains the URL (webhook URLs carry their secret).
 */
export async function postJson(
  url: string,
  body: unknown,
  options: { headers?: Record<string, string>; timeoutMs: number; signal?: AbortSignal; service: string },
): Promise<PostResult> {
  const payload = JSON.stringify(body);
  return await post(url, payload, { ...options, contentType: 'application/json' });
}

export async function post(
  url: string,
  payload: string,
  options: {
    headers?: Record<string, string>;
    timeoutMs: number;
    signal?: AbortSignal;
    service: string;
    contentType: string;
  },
): Promise<PostResult> {
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': options.contentType,
        'user-agent': 'Blackstart',
        ...options.headers,
      },
      body: payload,
      signal: AbortSignal.any(signals),
      redirect: 'follow',
    });
  } catch (error) {
    throw new DeliveryError(`${options.service}: ${describeFetchError(error, options.timeoutMs)}`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    // 4xx other than 408/429 means the request itself is wrong (bad URL, revoked webhook): retrying
    // will not help, but it is still retried a few times in case a proxy answered for a moment.
    const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    throw new DeliveryError(
      `${options.service} answered HTTP ${response.status}${snippet ? `: ${snippet}` : ''}`,
      response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429,
    );
  }
  return { status: response.status, body: text };
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  if (e.name === 'AbortError') return 'cancelled';
  const cause = e.cause?.code ?? e.cause?.message;
  // fetch's own message for a bad URL quotes the URL: keep only the reason.
  if (e instanceof TypeError && /invalid url/i.test(e.message)) return 'invalid URL';
  return cause ? `request failed (${cause})` : `request failed (${e.message})`;
}
