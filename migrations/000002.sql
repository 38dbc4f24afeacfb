-- Totals behind the Prometheus counters. A CronJob pod starts from zero, so the running
-- totals live here and every run publishes them: rate() and increase() then give the same
-- answer whether Prometheus scrapes `serve` or the Pushgateway. Each batch adds its own
-- counts in the transaction that removes its rows, so the totals never run ahead of (or
-- behind) what was committed.
CREATE TABLE status_reconciler.totals (
  job                text PRIMARY KEY,
  rows_examined      bigint NOT NULL DEFAULT 0,
  duplicates_found   bigint NOT NULL DEFAULT 0,
  duplicates_removed bigint NOT NULL DEFAULT 0,
  runs_success       bigint NOT NULL DEFAULT 0,
  runs_failure       bigint NOT NULL DEFAULT 0,
  runs_skipped       bigint NOT NULL DEFAULT 0,
  gap_sum            double precision NOT NULL DEFAULT 0,
  last_success_at    timestamptz
);

-- The duplicate-gap histogram, cumulative the same way: one row per job and bucket
-- (le = upper bound in seconds, 'Infinity' for +Inf), counts not yet cumulative over le.
CREATE TABLE status_reconciler.gap_bucket (
  job   text NOT NULL,
  le    double precision NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (job, le)
);

-- One row per run (dry runs excluded: they change nothing), for `status` and dashboards.
-- Pruned to the retention (RUN_HISTORY_DAYS) by each run that records itself.
CREATE TABLE status_reconciler.run_history (
  id                  bigserial PRIMARY KEY,
  job                 text NOT NULL,
  started_at          timestamptz NOT NULL,
  finished_at         timestamptz NOT NULL,
  outcome             text NOT NULL CHECK (outcome IN ('success', 'failure', 'skipped')),
  scope               text NOT NULL,
  rows_examined       bigint NOT NULL,
  duplicates_found    bigint NOT NULL,
  duplicates_removed  bigint NOT NULL,
  horizon             text,
  horizon_lag_seconds double precision,
  snapshot_seconds    double precision NOT NULL,
  duration_seconds    double precision NOT NULL,
  gap_counts          bigint[] NOT NULL,
  error               text
);
CREATE INDEX run_history_job_started ON status_reconciler.run_history (job, started_at DESC);
