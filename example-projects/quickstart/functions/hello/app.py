"""Fetch a URL and report its status: a handler with one third-party dependency."""

import requests


def handler(event, context):
    """Return the HTTP status of ``event["url"]`` (default: https://example.com)."""
    url = (event or {}).get("url", "https://example.com")
    response = requests.get(url, timeout=5)
    return {"url": url, "status": response.status_code}
