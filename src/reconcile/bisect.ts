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
  /**
   * Past maxFailures when some piece did succeed (so the cause is in some rows, not in the
   * whole table): the items not yet attempted, left out instead of failing the batch.
   */
  exhausted?(rest: readonly T[], error: unknown): void;
  /** Leave the rest out past maxFailures even when no piece succeeded (a retry of left-out items). */
  exhaustedWithoutSuccess?: boolean;
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
 * order, and so on down to single items, which are then left out (`isolated`). Past the
 * budget, what is left is left out too (`exhausted`) when some piece got through, else the
 * batch fails (BisectExhaustedError): a cause every attempt meets. Every other error is
 * thrown at once. Items are attempted in their order, each exactly once in a piece
 * that succeeded or isolated.
 */
export async function bisect<T>(
  items: readonly T[],
  attempt: (piece: readonly T[]) => Promise<void>,
  options: BisectOptions<T>,
): Promise<void> {
  const pending: (readonly T[])[] = items.length > 0 ? [items] : [];
  let failures = 0;
  let succeeded = 0;
  while (pending.length > 0) {
    const piece = pending.shift() as readonly T[];
    try {
      await attempt(piece);
      succeeded += 1;
    } catch (error) {
      if (!options.retryable(error)) throw error;
      failures += 1;
      const anyGotThrough = succeeded > 0 || options.exhaustedWithoutSuccess === true;
      if (failures > options.maxFailures && anyGotThrough && options.exhausted) {
        options.exhausted([...piece, ...pending.flat()], error);
        return;
      }
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
