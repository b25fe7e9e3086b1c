"""The team's remote cache: action entries and content blobs in S3 (or an S3-compatible
store), behind the local cache.

- ``settings``: the effective remote (config ``[cache]``, ``FORGE_REMOTE_CACHE``,
  ``--remote-mode``), without importing boto3.
- ``layout``: object names (``cas/<hh>/<sha256>``, ``ac/<hh>/<key>.json``) and the action
  entry's envelope, signed with HMAC-SHA256 when ``FORGE_CACHE_SIGNING_KEY`` is set.
- ``s3``: the one module that imports boto3: bounded timeouts and retries, conditional
  writes, multipart transfers.
- ``tiered``: what the local cache calls on a miss (fetch, verify, store locally) and after
  a put in read-write mode (upload blobs first, the entry last), with the figures and the
  one warning a degraded remote gets.
"""
