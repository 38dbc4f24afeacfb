import { Pushgateway } from 'prom-client';
import { PRODUCT } from '../config/product.js';
import { buildRegistry, labelsOf } from './registry.js';
import type { JobMetrics } from './snapshot.js';

export const PUSH_JOB_NAME = PRODUCT;
const PUSH_TIMEOUT_MS = 10_000;

/**
 * Pushes one job's series to the Pushgateway, replacing that group (PUT). The grouping key
 * is {job="status-reconciler", reconcile_job=NAME} (and shard=I for a shard): no pod or
 * instance label, so every pod of a CronJob updates the same series, while two jobs (or two
 * shards) never overwrite each other's.
 */
export async function pushJobMetrics(gatewayUrl: string, metrics: JobMetrics): Promise<void> {
  // Registry passed third: the second argument is request options (prom-client #535).
  const gateway = new Pushgateway(gatewayUrl, { timeout: PUSH_TIMEOUT_MS }, buildRegistry([metrics]));
  await gateway.push({ jobName: PUSH_JOB_NAME, groupings: labelsOf(metrics) });
}
