/** What the orchestrator (bench.ts) asks a child process (peer.ts) to do, and what it answers. */

export type PeerKind = 'reconciler' | 'naive-stream' | 'chunked' | 'load-all';

export interface ReconcilerSpec {
  kind: 'reconciler';
  url: string;
  table: string;
  job: string;
  mode: 'delete' | 'archive';
  archiveTable?: string;
  dryRun: boolean;
  full: boolean;
}

export interface PeerSpec {
  kind: Exclude<PeerKind, 'reconciler'>;
  url: string;
  table: string;
  /** chunked: objects per query. */
  chunkObjects?: number;
}

export type ChildSpec = ReconcilerSpec | PeerSpec;

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
  /** Statements (chunks, batches) it took. */
  statements: number;
  /** Process memory before the work and at its peak (sampled every 50 ms, and the kernel's high-water mark). */
  baselineRssBytes: number;
  peakRssBytes: number;
  baselineHeapBytes: number;
  peakHeapBytes: number;
  memorySamples: number;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';
