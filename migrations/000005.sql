-- One runner per job: a lease row rather than a session advisory lock, because behind
-- PgBouncer's transaction pooling a session lock stays on a pooled server connection that
-- then serves other clients (pgbouncer #617). A runner holds the lease while it renews it
-- (every batch, and a few seconds apart while it scans); each acquisition bumps `token`,
-- and every write of the pass (batch, checkpoint, run record) first renews the lease by
-- its token in the same transaction, so a runner that lost its lease cannot commit
-- anything (fencing). `backend_pid` and `backend_start` name the server session of the
-- last renewal: when that session is gone (the runner was killed, on a direct connection)
-- the lease can be taken at once instead of after `expires_at`.
CREATE TABLE status_reconciler.lease (
  job           text PRIMARY KEY,
  holder        text NOT NULL,
  token         bigint NOT NULL,
  acquired_at   timestamptz NOT NULL,
  renewed_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  backend_pid   integer NOT NULL,
  backend_start timestamptz
);
