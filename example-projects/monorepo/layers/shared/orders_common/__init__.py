"""Code every orders function shares, shipped in the ``shared`` layer."""

import json

import attrs


@attrs.frozen
class Order:
    """An order as the services pass it around."""

    id: str
    total_cents: int


def response(status: int, body: object) -> dict:
    """An API Gateway proxy response with a JSON body."""
    return {"statusCode": status, "body": json.dumps(body)}
