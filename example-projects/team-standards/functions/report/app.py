"""Summarise numbers sent in the event: a dependency-free handler."""

import statistics


def handler(event, context):
    """Return count, mean and median of ``event["values"]``."""
    values = [float(v) for v in event.get("values", [])]
    if not values:
        return {"count": 0}
    return {"count": len(values), "mean": statistics.fmean(values), "median": statistics.median(values)}
