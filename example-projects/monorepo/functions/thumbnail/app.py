"""Make a 128-pixel thumbnail of an image passed as base64."""

import base64
import io

from PIL import Image


def handler(event, context):
    """Return the thumbnail of ``event["image"]`` (base64 PNG/JPEG) as base64 PNG."""
    image = Image.open(io.BytesIO(base64.b64decode(event["image"])))
    image.thumbnail((128, 128))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return {"thumbnail": base64.b64encode(out.getvalue()).decode()}
