"""The shipping service's queue consumer."""

from orders_common import response


def handler(event, context):
    """Acknowledge every record of an SQS batch."""
    records = event.get("Records", [])
    return response(200, {"service": "shipping", "processed": len(records)})
