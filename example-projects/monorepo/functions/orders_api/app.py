"""HTTP API for orders: returns the order named in the path."""

from orders_common import Order, response


def handler(event, context):
    """GET /orders/{id}."""
    order_id = (event.get("pathParameters") or {}).get("id", "unknown")
    return response(200, {"id": Order(id=order_id, total_cents=0).id})
