// Retries of transient object-store failures: exponential backoff with full
// jitter, bounded by an overall deadline, so a produce waits through a short
// outage and gets a retriable error past its deadline instead of hanging.

export interface RetryPolicy {
  /** First backoff; doubles per attempt up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Give up once this much time has passed since the first attempt. */
  deadlineMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 50, maxDelayMs: 2000, deadlineMs: 30_000 };

export class RetryDeadlineError extends Error {
  constructor(
    readonly op: string,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`${op} failed after ${attempts} attempts: ${(lastError as Error)?.message ?? String(lastError)}`);
    this.name = 'RetryDeadlineError';
  }
}

export interface RetryHooks {
  onRetry?(op: string, attempt: number, err: unknown, delayMs: number): void;
}

export async function withRetries<T>(
  op: string,
  fn: (attempt: number) => Promise<T>,
  isRetriable: (err: unknown) => boolean,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetriable(err)) throw err;
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.random() * cap;
      if (Date.now() + delay - started > policy.deadlineMs) throw new RetryDeadlineError(op, attempt, err);
      hooks.onRetry?.(op, attempt, err, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
