/** What the orchestrator (bench.ts) asks a child process (peer.ts) to do, and what it answers. */

export type PeerKind =
  'reconciler' | 'reconciler-stream' | 'naive-stream' | 'chunked' | 'load-all' | 'peer-delete';

export interface ReconcilerSpec {
  kind: 'reconciler';
  url: string;
  table: string;
  job: string;
  mode: 'delete' | 'archive';
  archiveTable?: string;
  dryRun: boolean;
  full: boolean;
  /** The job's batchPauseMs (default 0). */
  batchPauseMs?: number;
}

/** Incremental real passes, one started every intervalSeconds, until durationSeconds are over. */
export interface ReconcilerStreamSpec {
  kind: 'reconciler-stream';
  url: string;
  table: string;
  job: string;
  intervalSeconds: number;
  durationSeconds: number;
}

export interface PeerSpec {
  kind: Exclude<PeerKind, 'reconciler' | 'reconciler-stream'>;
  url: string;
  table: string;
  /** chunked: objects per query. */
  chunkObjects?: number;
}

export type ChildSpec = ReconcilerSpec | ReconcilerStreamSpec | PeerSpec;

export interface ChildResult {
  kind: PeerKind;
  outcome: 'success' | 'failure';
  error?: string;
  /** From just before the work (connections included) to just after it, in the child. */
  wallSeconds: number;
  /** Rows judged: read by a peer, examined by the reconciler. */
  rows: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  /** The longest time one snapshot stayed open (it holds back vacuum meanwhile). */
  snapshotSeconds: number;
  /** CPU time of the contender's own process (user + system), not the server's. */
  cpuSeconds: number;
  /** Statements (chunks, batches) it took; passes for a reconciler stream. */
  statements: number;
  /** A reconciler stream: its slowest pass, and passes that failed. */
  slowestPassSeconds?: number;
  failedPasses?: number;
  /** A reconciler pass: its longest write transaction (one batch attempt), in seconds. */
  longestBatchSeconds?: number;
  /** Process memory before the work and at its peak (sampled every 50 ms, and the kernel's high-water mark). */
  baselineRssBytes: number;
  peakRssBytes: number;
  baselineHeapBytes: number;
  peakHeapBytes: number;
  memorySamples: number;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';
