import type pg from 'pg';
import { APPLICATION_NAME } from '../config/product.js';
import { withClient } from '../db/connect.js';
import { inReadTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import type { JobResult } from '../reconcile/result.js';
import { pushJobMetrics } from './push.js';
import { readJobMetrics } from './snapshot.js';

/**
 * After a job's run (success or failure; dry runs change nothing and push nothing): read the
 * job's stored totals and push them. A push that fails is logged and never fails the run.
 * When the database itself is unreachable there are no totals to push: pushing zeros would
 * look like a counter reset, so nothing is pushed and the failure is logged.
 */
export async function pushAfterRun(
  database: pg.ClientConfig,
  gatewayUrl: string,
  result: JobResult,
  logger: Logger,
): Promise<boolean> {
  if (result.dryRun) return false;
  const log = logger.child({ job: result.job, ...(result.shard ? { shard: result.shard } : {}) });
  try {
    const [metrics] = await withClient(database, APPLICATION_NAME.writer, (session) =>
      inReadTransaction(session, (client) =>
        readJobMetrics(client, [{ job: result.job, shard: result.shard }]),
      ),
    );
    if (!metrics) return false;
    await pushJobMetrics(gatewayUrl, metrics);
    log.debug({ pushgateway: new URL(gatewayUrl).host }, 'metrics pushed');
    return true;
  } catch (error) {
    log.warn(
      { err: error, pushgateway: safeHost(gatewayUrl) },
      'metrics push failed (the run itself is unaffected)',
    );
    return false;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid PUSHGATEWAY_URL';
  }
}
