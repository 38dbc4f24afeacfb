-- A checkpoint belongs to one job definition: the table, key, orderBy, compare, the time
-- column's exact type and the job's TimeZone, as the reconciler spells them (see
-- src/reconcile/definition.ts). A pass under another definition, or over a checkpoint
-- written before this column existed (000004) (under older horizon rules that could run ahead of
-- the horizon of local times and dates), does not trust it: it is a full pass.
ALTER TABLE status_reconciler.checkpoint
  ADD COLUMN definition text,
  -- When the job's last full pass completed: `fullEvery` after it, a run is full again.
  ADD COLUMN full_pass_at timestamptz;

-- Duplicates that a full pass found below the stored checkpoint: the incremental passes
-- missed them (a middle row deleted, a row committed after the horizon passed its time).
ALTER TABLE status_reconciler.totals
  ADD COLUMN missed_by_incremental bigint NOT NULL DEFAULT 0;
ALTER TABLE status_reconciler.run_history
  ADD COLUMN missed_by_incremental bigint NOT NULL DEFAULT 0;
