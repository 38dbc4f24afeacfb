from .models import ObjectStatus


def record_status(obj, status):
    """
    Record that `obj` (a TrackedObject) is now in `status`, unless that is already its latest
    status. Returns the new ObjectStatus, or None.

    This is the write that races: two processes that run it at the same moment both read the
    same latest row, both find the status changed, and both create it. Nothing here locks or
    retries; status-reconciler removes the second row afterwards, and readers that need a
    clean history meanwhile read CurrentStatus and CollapsedStatus.
    """
    latest = obj.statuses.order_by("-start_date", "-id").values_list("status", flat=True).first()
    if latest == status:
        return None
    return ObjectStatus.objects.create(object=obj, status=status)
