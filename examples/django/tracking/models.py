from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils import timezone


class TrackedObject(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


class Status(models.TextChoices):
    RECEIVED = "received"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"


class StatusRecord(models.Model):
    """What a row of the status history holds: the table and its two reader views share it."""

    status = models.CharField(max_length=40, choices=Status.choices)
    # Stamped by the app server's clock when the instance is built, not when the row commits:
    # the reconciler's settleSeconds must cover that (docs/django.md).
    start_date = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class ObjectStatus(StatusRecord):
    """
    The status history, written by many processes at once: "get the latest, compare, create"
    (tracking.services.record_status), with no lock. Two writers that race both create, and
    the history gets consecutive duplicates; status-reconciler collapses them afterwards
    (jobs/tracking-objectstatus.json). Rows are never updated.
    """

    object = models.ForeignKey(TrackedObject, on_delete=models.CASCADE, related_name="statuses")

    class Meta:
        indexes = [
            # What `status-reconciler check` asks for, created CONCURRENTLY by migration 0002:
            # a btree on the job's key + orderBy (it also serves "the latest status of an
            # object"), and a BRIN on start_date for incremental passes.
            models.Index(fields=["object", "start_date", "id"], name="tracking_status_history_idx"),
            BrinIndex(fields=["start_date"], name="tracking_status_start_brin"),
        ]


class CurrentStatus(StatusRecord):
    """
    Each object's current status: its last row by (start_date, id), from the view
    tracking_objectstatus_current that `status-reconciler sql --views` creates (migration 0003).
    Read-only; right before the reconciler has run.
    """

    # DO_NOTHING: deleting a TrackedObject must not try to delete from a view.
    object = models.OneToOneField(
        TrackedObject, on_delete=models.DO_NOTHING, related_name="current_status"
    )

    class Meta:
        managed = False
        db_table = "tracking_objectstatus_current"


class CollapsedStatus(StatusRecord):
    """
    The history without consecutive duplicates (each object's first row, and each row whose
    status differs from the one before it), from the view tracking_objectstatus_collapsed:
    what the table holds once the reconciler has run, already now. Read-only.
    """

    object = models.ForeignKey(
        TrackedObject, on_delete=models.DO_NOTHING, related_name="collapsed_statuses"
    )

    class Meta:
        managed = False
        db_table = "tracking_objectstatus_collapsed"
        ordering = ["start_date", "id"]
