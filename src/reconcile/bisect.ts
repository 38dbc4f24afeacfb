/** Too many attempts of one batch failed the retryable way: the last one's error is the cause. */
export class BisectExhaustedError extends Error {
  override readonly name = 'BisectExhaustedError';
}

export interface BisectOptions<T> {
  /** Whether a failed attempt's error is one that a smaller piece may avoid. */
  retryable(error: unknown): boolean;
  /** A single item whose attempt still failed that way: it is left out, and the rest goes on. */
  isolated(item: T, error: unknown): void;
  /** Failed attempts allowed in all before giving up (BisectExhaustedError). */
  maxFailures: number;
}

/**
 * Enough failed attempts to isolate four blocked items among `n` by halving (each costs at
 * most one failure per halving, plus the first attempt), and few enough that a cause no
 * halving avoids (a table-level lock every attempt waits for) ends the batch in a bounded
 * time: 56 attempts for 5000 items, each waiting lock_timeout.
 */
export function bisectBudget(n: number): number {
  return 4 * Math.ceil(Math.log2(Math.max(n, 1))) + 4;
}

/**
 * Attempts `items` whole; when that fails with a retryable error, attempts each half, in
 * order, and so on down to single items, which are then left out (`isolated`). Every other
 * error is thrown at once. Items are attempted in their order, each exactly once in a piece
 * that succeeded or isolated.
 */
export async function bisect<T>(
  items: readonly T[],
  attempt: (piece: readonly T[]) => Promise<void>,
  options: BisectOptions<T>,
): Promise<void> {
  const pending: (readonly T[])[] = items.length > 0 ? [items] : [];
  let failures = 0;
  while (pending.length > 0) {
    const piece = pending.shift() as readonly T[];
    try {
      await attempt(piece);
    } catch (error) {
      if (!options.retryable(error)) throw error;
      failures += 1;
      if (failures > options.maxFailures) {
        throw new BisectExhaustedError(
          `${failures} attempts failed (${(error as Error).message}); gave up with ${pending.reduce(
            (n, p) => n + p.length,
            piece.length,
          )} row(s) not attempted`,
          { cause: error },
        );
      }
      if (piece.length === 1) {
        options.isolated(piece[0] as T, error);
        continue;
      }
      const half = Math.ceil(piece.length / 2);
      pending.unshift(piece.slice(0, half), piece.slice(half));
    }
  }
}
