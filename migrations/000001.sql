-- The reconciler's own state. Applied once, in a transaction, under an advisory lock
-- (see src/reconcile/migrate.ts); the schema itself is created by the migrator.

-- Per job: the horizon of the last completed pass. The next incremental pass judges only
-- objects with rows at or after it. Stored as text in the job's time type (timestamptz,
-- timestamp or date) so it casts back exactly, with that type recorded beside it: a type
-- change of the column makes the checkpoint unusable and the next pass full.
CREATE TABLE status_reconciler.checkpoint (
  job          text PRIMARY KEY,
  horizon      text NOT NULL,
  horizon_type text NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
