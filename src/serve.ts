import type { Server } from 'node:http';
import { schedule, type ScheduledTask } from 'node-cron';
import pg from 'pg';
import type { Registry } from 'prom-client';
import type { Job } from './config/job.js';
import { APPLICATION_NAME } from './config/product.js';
import type { Logger } from './log.js';
import { buildRegistry } from './metrics/registry.js';
import { startMetricsServer, type Health } from './metrics/server.js';
import { readJobMetrics, type JobMetrics } from './metrics/snapshot.js';
import { prepareSession, socketOptions } from './db/connect.js';
import { inReadTransaction } from './db/transaction.js';
import { warnMissingIndexes } from './dba/indexWarnings.js';
import { reconcileJob } from './reconcile/reconcileJob.js';
import type { JobResult } from './reconcile/result.js';
import { logSummary, prepareJobs } from './reconcile/runJobs.js';

export interface ServeOptions {
  database: pg.ClientConfig;
  jobs: Job[];
  logger: Logger;
  port: number;
  host?: string;
  historyDays: number;
  /** How long a stop waits for the batch in hand before it gives up (default 20 s). */
  stopTimeoutMs?: number;
}

export interface Serving {
  server: Server;
  /** Stops scheduling, lets runs in flight finish their batch, closes everything. */
  stop(): Promise<void>;
}

/** A job unhealthy after this many of its intervals without a success. */
const HEALTH_INTERVALS = 3;
const DB_CHECK_TIMEOUT_MS = 3000;

/**
 * The long-running mode: each job on its own node-cron schedule, never overlapping itself
 * (noOverlap skips a tick while the last one runs; the per-job database lock also keeps a
 * CronJob and this process apart), /metrics and /healthz served from the stored totals.
 */
export async function serve(options: ServeOptions): Promise<Serving> {
  const { database, jobs, logger } = options;
  // Validate every job and migrate once up front: bad configuration fails the start (exit 2).
  await prepareJobs(database, jobs, { dryRun: false, inspect: warnMissingIndexes(logger), logger });

  const startedAt = Date.now();
  const controller = new AbortController();
  const inFlight = new Set<Promise<JobResult | undefined>>();
  const pool = new pg.Pool({
    ...socketOptions(database),
    max: 2,
    application_name: APPLICATION_NAME.serve,
    connectionTimeoutMillis: DB_CHECK_TIMEOUT_MS,
  });
  pool.on('error', (error) => logger.warn({ err: error }, 'idle metrics connection failed'));
  // Like every connection of ours: TCP keepalives, and no idle_session_timeout (src/db/connect.ts).
  pool.on('connect', (client) => {
    prepareSession(client).catch((error: unknown) =>
      logger.warn({ err: error }, 'metrics connection: session setup failed'),
    );
  });
  let lastMetrics: JobMetrics[] | undefined;
  const readMetrics = async (): Promise<JobMetrics[]> => {
    const client = await pool.connect();
    try {
      return await inReadTransaction(client, (c) =>
        readJobMetrics(
          c,
          jobs.map((j) => ({ job: j.name, shard: j.shard })),
        ),
      );
    } finally {
      client.release();
    }
  };

  const runOnce = async (job: Job): Promise<JobResult | undefined> => {
    if (controller.signal.aborted) return undefined;
    try {
      // Planned again each time: the table may have changed since the start.
      const [plan] = await prepareJobs(database, [job], { dryRun: false, logger });
      if (!plan || controller.signal.aborted) return undefined;
      const result = await reconcileJob(database, plan, {
        dryRun: false,
        full: false,
        logger,
        signal: controller.signal,
        historyDays: options.historyDays,
      });
      logSummary(logger, result);
      return result;
    } catch (error) {
      logger.error({ job: job.name, err: error }, 'run could not start');
      return undefined;
    }
  };

  const tasks: ScheduledTask[] = jobs.map((job) => {
    const task = schedule(
      job.schedule,
      () => {
        const running = runOnce(job);
        inFlight.add(running);
        return running.finally(() => inFlight.delete(running));
      },
      { name: job.name, noOverlap: true },
    );
    task.on('execution:overlap', () =>
      logger.info({ job: job.name }, 'tick skipped: the previous run of this job is still going'),
    );
    return task;
  });

  const metrics = async (): Promise<Registry> => {
    try {
      lastMetrics = await readMetrics();
    } catch (error) {
      logger.warn({ err: error }, 'metrics: database unreachable, serving the last values read');
    }
    return buildRegistry(lastMetrics ?? []);
  };

  const health = async (): Promise<Health> => {
    let database: string;
    let latest: JobMetrics[] = [];
    try {
      latest = await readMetrics();
      lastMetrics = latest;
      database = 'reachable';
    } catch (error) {
      return { healthy: false, detail: { database: `unreachable: ${(error as Error).message}` } };
    }
    const now = Date.now();
    const late: string[] = [];
    const detail: Record<string, unknown> = {};
    jobs.forEach((job, i) => {
      const runs = tasks[i]?.getNextRuns(2) ?? [];
      const interval = runs.length === 2 ? runs[1]!.getTime() - runs[0]!.getTime() : 60_000;
      const success = latest.find((m) => m.job === job.name)?.lastSuccessSeconds;
      // A job that never succeeded is judged from this process's start.
      const since = success !== undefined ? Math.max(success * 1000, startedAt) : startedAt;
      const age = now - since;
      if (age > HEALTH_INTERVALS * interval) late.push(job.name);
      detail[job.name] = {
        lastSuccess: success !== undefined ? new Date(success * 1000).toISOString() : null,
        intervalSeconds: interval / 1000,
      };
    });
    return {
      healthy: late.length === 0,
      detail: { database, jobs: detail, ...(late.length ? { late } : {}) },
    };
  };

  const server = await startMetricsServer(options.port, options.host ?? '0.0.0.0', { metrics, health });
  logger.info({ port: options.port, jobs: jobs.map((j) => `${j.name} (${j.schedule})`) }, 'serving');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const task of tasks) await task.stop();
      controller.abort(); // runs in flight stop after the batch in hand
      const timeout = new Promise<'timeout'>((resolve) =>
        setTimeout(resolve, options.stopTimeoutMs ?? 20_000, 'timeout').unref(),
      );
      const outcome = await Promise.race([Promise.allSettled([...inFlight]), timeout]);
      if (outcome === 'timeout')
        logger.warn('stop: runs still in flight after the timeout; their batch rolls back');
      for (const task of tasks) await task.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await pool.end();
    })();
    return stopping;
  };
  return { server, stop };
}
