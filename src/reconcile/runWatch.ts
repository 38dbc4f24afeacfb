import type { Connection } from '../db/connect.js';
import type { Logger } from '../log.js';

/** The run reached its job's runTimeout: what it was waiting for then, and for how long. */
export class RunTimeoutError extends Error {
  override readonly name = 'RunTimeoutError';
}

/** What a run was waiting for at a moment, and since when. */
interface Wait {
  what: string;
  connection: Connection | undefined;
  since: number;
}

/** What the run was waiting for when its deadline came. */
export interface Stall {
  waitingFor: string;
  /** Which connection ("scan", "writer") it was waiting on, with its backend pid. */
  on: string | undefined;
  waitingSeconds: number;
  runSeconds: number;
}

/** A warning at most this often while nothing moves; sooner when the deadline is close. */
const WARN_EVERY_MS = 10_000;
/** After the deadline, how long the pass has to unwind before every socket is cut and it is left. */
export const DEADLINE_GRACE_MS = 3000;

/**
 * Watches one run of one job: what it waits for (the scan, a batch, the lease, ...), a
 * warning line while nothing moves, and the job's deadline (runTimeout). On the deadline
 * the connection it waits on is cut (its socket destroyed: a stopped server never answers
 * a close), so the pass fails at once with what it was waiting for; whatever still answers
 * (the writer, when the scan stalled) then records the failure and gives up the lease.
 * DEADLINE_GRACE_MS later every connection of the run is cut, and a pass that still has not
 * unwound is left behind (bound).
 */
export class RunWatch {
  private readonly started = performance.now();
  private lastProgress = this.started;
  private lastWarning = this.started;
  private readonly waits: Wait[] = [];
  private readonly labels = new Map<Connection, string>();
  private readonly failedOn = new WeakMap<object, Connection>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stall: Stall | undefined;
  private leave: () => void = () => undefined;
  /** Settles DEADLINE_GRACE_MS after the deadline. */
  private readonly left = new Promise<void>((resolve) => {
    this.leave = resolve;
  });
  private readonly warnEveryMs: number;

  constructor(
    private readonly log: Logger,
    private readonly runTimeoutSeconds: number,
  ) {
    const timeoutMs = runTimeoutSeconds * 1000;
    this.warnEveryMs = Math.min(WARN_EVERY_MS, Math.max(1000, timeoutMs / 3));
    this.timers.push(
      setInterval(() => this.maybeWarn(), Math.min(1000, this.warnEveryMs / 2)),
      setTimeout(() => this.expire(), timeoutMs),
    );
  }

  /** The run's connections, named as messages call them ("scan", "writer"). */
  guard(connections: Record<string, Connection>): void {
    for (const [label, connection] of Object.entries(connections)) this.labels.set(connection, label);
  }

  /** The stall that ended the run, once its deadline has come. */
  get expired(): Stall | undefined {
    return this.stall;
  }

  /** Which of the run's connections `error` came from, when a watched wait saw it. */
  connectionOf(error: unknown): Connection | undefined {
    if (typeof error !== 'object' || error === null) return undefined;
    const connections = [...this.labels.keys()];
    const failed = connections.filter((connection) => connection.failure !== undefined);
    return (
      this.failedOn.get(error) ??
      connections.find((connection) => connection.failure === error) ??
      (failed.length === 1 ? failed[0] : undefined)
    );
  }

  label(connection: Connection): string {
    return this.labels.get(connection) ?? connection.name;
  }

  /** Runs fn as a wait for `what` on `connection`; its end, either way, is progress. */
  async during<T>(what: string, connection: Connection | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.stall) throw this.timeoutError();
    const wait: Wait = { what, connection, since: performance.now() };
    this.waits.push(wait);
    try {
      return await fn();
    } catch (error) {
      if (connection && typeof error === 'object' && error !== null && !this.failedOn.has(error)) {
        this.failedOn.set(error, connection);
      }
      throw error;
    } finally {
      this.waits.splice(this.waits.indexOf(wait), 1);
      this.progressed();
    }
  }

  /** `target` with each named method (an async one) run as a wait for its label on `connection`. */
  watched<T extends object>(
    target: T,
    connection: Connection,
    methods: Partial<Record<keyof T & string, string>>,
  ): T {
    return new Proxy(target, {
      get: (object, property, receiver) => {
        const value: unknown = Reflect.get(object, property, receiver);
        const what = typeof property === 'string' ? methods[property as keyof T & string] : undefined;
        if (what === undefined || typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        return (...args: unknown[]) => this.during(what, connection, () => method.apply(object, args));
      },
    });
  }

  /** The rows of a scan on `connection`, each read a wait for "the scan". */
  async *scan<T>(connection: Connection, rows: AsyncIterable<T>): AsyncGenerator<T> {
    const iterator = rows[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await this.during('the scan', connection, () => iterator.next());
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // However the loop ends, the scan's own cleanup runs (its snapshot is released).
      await iterator.return?.();
    }
  }

  /**
   * `work`, unless the deadline came and it has not settled DEADLINE_GRACE_MS later: then
   * `fallback()`, and `work` is left behind (its connections are cut by then). Once the
   * deadline has come, `work` (the failure's record, the lease's release) has that long.
   */
  async bound<T>(
    work: Promise<T>,
    fallback: () => T,
    waiting?: { what: string; connection: Connection | undefined },
  ): Promise<T> {
    work.catch(() => undefined); // when left behind, its rejection is nobody's
    const wait: Wait | undefined = waiting && { ...waiting, since: performance.now() };
    if (wait) this.waits.push(wait);
    let timer: NodeJS.Timeout | undefined;
    const late = this.stall
      ? new Promise<void>((resolve) => {
          timer = setTimeout(resolve, DEADLINE_GRACE_MS);
        })
      : this.left;
    try {
      return await Promise.race([work, late.then(fallback)]);
    } finally {
      clearTimeout(timer);
      if (wait) this.waits.splice(this.waits.indexOf(wait), 1);
      this.progressed();
    }
  }

  /** The error a run that reached its deadline fails with; `cause` is what the pass threw. */
  timeoutError(cause?: unknown): RunTimeoutError {
    const stall = this.stall;
    const waiting = stall
      ? `waiting for ${stall.waitingFor}${stall.on ? ` (${stall.on})` : ''} for ${seconds(stall.waitingSeconds)}`
      : 'waiting';
    return new RunTimeoutError(
      `runTimeout (${this.runTimeoutSeconds}s) reached after ${seconds(stall?.runSeconds ?? 0)}, ${waiting}: ` +
        'a stalled server, backend or network; the run stopped: committed batches stay, the checkpoint ' +
        'is not advanced, the next run redoes the rest',
      cause === undefined ? undefined : { cause },
    );
  }

  /** Ends the watch: no more warnings, no deadline. */
  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  private progressed(): void {
    this.lastProgress = performance.now();
  }

  private describe(connection: Connection | undefined): string | undefined {
    if (connection === undefined) return undefined;
    return `the ${this.label(connection)} connection, backend pid ${connection.pid}`;
  }

  private maybeWarn(): void {
    const now = performance.now();
    const quiet = now - this.lastProgress;
    if (this.stall || quiet < this.warnEveryMs || now - this.lastWarning < this.warnEveryMs) return;
    this.lastWarning = now;
    const wait = this.waits.at(-1);
    const what = wait?.what ?? 'the pass (busy on the client)';
    const on = this.describe(wait?.connection);
    const left = this.runTimeoutSeconds - (now - this.started) / 1000;
    this.log.warn(
      {
        waitingFor: what,
        ...(on ? { on } : {}),
        secondsWithoutProgress: Math.round(quiet / 1000),
        runTimeoutSeconds: this.runTimeoutSeconds,
        secondsLeft: Math.max(0, Math.round(left)),
      },
      `no progress for ${Math.round(quiet / 1000)} s: waiting for ${what}${on ? ` (${on})` : ''}`,
    );
  }

  private expire(): void {
    const now = performance.now();
    const wait = this.waits.at(-1);
    this.stall = {
      waitingFor: wait?.what ?? 'the pass (busy on the client)',
      on: this.describe(wait?.connection),
      waitingSeconds: (now - (wait?.since ?? this.lastProgress)) / 1000,
      runSeconds: (now - this.started) / 1000,
    };
    this.log.warn(
      { ...this.stall, runTimeoutSeconds: this.runTimeoutSeconds },
      `runTimeout (${this.runTimeoutSeconds}s) reached, waiting for ${this.stall.waitingFor}: stopping the run`,
    );
    // What it waits on is cut now; the rest (a writer that still answers) records the failure.
    const stalled = wait?.connection ? [wait.connection] : [...this.labels.keys()];
    for (const connection of stalled) connection.destroy(`cut at runTimeout (${this.runTimeoutSeconds}s)`);
    this.timers.push(
      setTimeout(() => {
        for (const connection of this.labels.keys()) {
          connection.destroy(`cut ${DEADLINE_GRACE_MS} ms after runTimeout`);
        }
        this.leave();
      }, DEADLINE_GRACE_MS),
    );
  }
}

function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}
