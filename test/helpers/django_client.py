"""
The example Django app (examples/django) as test/e2e/django.test.ts drives it, through its ORM:

  django_client.py write plain|late OBJECTS SECONDS
      One writer process. Connects, prints "ready", waits for a line on stdin, then for SECONDS
      seconds records random statuses of objects 1..OBJECTS and prints one JSON line of counts.
      plain: tracking.services.record_status as the app calls it, in autocommit (Django's
             default): the row is stamped by default=timezone.now just before its INSERT;
             a short pause between calls.
      late:  the row is built (and so stamped by default=timezone.now) before its transaction
             starts, as when a request builds it and saves it later, then "get the latest,
             compare, save" in transaction.atomic(), which sleeps before it commits: the row
             commits up to LATE_SECONDS after the time it carries.
  django_client.py read
      Prints one JSON line: CurrentStatus through TrackedObject.current_status (one row per
      object) and the ids of CollapsedStatus.

DATABASE_URL (or PG*) names the database, as for manage.py.
"""
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "django"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "statussite.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from tracking.models import CollapsedStatus, ObjectStatus, Status, TrackedObject  # noqa: E402
from tracking.services import record_status  # noqa: E402

# Three statuses, so that writers often pick the one an object already has.
STATUSES = [Status.RECEIVED, Status.PACKED, Status.SHIPPED]
# The longest a late writer waits between stamping and its transaction's first statement, and
# then before it commits: together at most 0.3 s from stamp to commit, plus scheduling.
BEFORE_SECONDS = 0.05
LATE_SECONDS = 0.25
# A plain writer's pause between two calls, as between requests: it leaves the shared machine's
# two cores some room for the server and the reconciler.
PAUSE_SECONDS = 0.02


def write(mode, objects, seconds):
    targets = list(TrackedObject.objects.filter(id__lte=objects).order_by("id"))
    if len(targets) != objects:
        raise SystemExit(f"expected {objects} TrackedObjects, found {len(targets)}")
    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    calls = inserts = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        obj = random.choice(targets)
        status = random.choice(STATUSES)
        calls += 1
        if mode == "plain":
            if record_status(obj, status) is not None:
                inserts += 1
            time.sleep(random.uniform(0, PAUSE_SECONDS))
            continue
        entry = ObjectStatus(object=obj, status=status)  # start_date = timezone.now(), here
        time.sleep(random.uniform(0, BEFORE_SECONDS))
        with transaction.atomic():
            latest = obj.statuses.order_by("-start_date", "-id").values_list("status", flat=True).first()
            if latest != status:
                entry.save()
                inserts += 1
            time.sleep(random.uniform(0, LATE_SECONDS))  # commit late
    print(json.dumps({"mode": mode, "calls": calls, "inserts": inserts}), flush=True)


def read():
    current = [
        {"object_id": str(o.id), "id": str(o.current_status.id), "status": o.current_status.status}
        for o in TrackedObject.objects.select_related("current_status").order_by("id")
        if hasattr(o, "current_status")
    ]
    collapsed = [str(i) for i in CollapsedStatus.objects.values_list("id", flat=True)]
    print(json.dumps({"current": current, "collapsed": collapsed}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 5 and sys.argv[2] in ("plain", "late"):
        write(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1:] == ["read"]:
        read()
    else:
        raise SystemExit(f"usage: {sys.argv[0]} write plain|late OBJECTS SECONDS | read")
