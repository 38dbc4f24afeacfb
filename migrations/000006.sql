-- What a run could not remove and why, so that an operator sees it after the pod is gone:
-- duplicates kept because a foreign key references them (never cascaded into), and
-- duplicates skipped because an application held them (or their predecessor) locked past
-- lockTimeoutMs (the next run retries them). Per run, not summed: both are states of the
-- table, not events that accumulate.
ALTER TABLE status_reconciler.run_history
  ADD COLUMN referenced_kept bigint NOT NULL DEFAULT 0,
  ADD COLUMN locked_skipped bigint NOT NULL DEFAULT 0;
