"""Amazon Titan Image Generator v1/v2: the same task/config schema and ``images[]`` as Nova Canvas."""

from __future__ import annotations

from .amazon_nova_canvas import AmazonImageCodec
from .registry import register


class TitanImageCodec(AmazonImageCodec):
    family = "amazon.titan-image"
    title = "Amazon Titan Image Generator v1, v2"


register(TitanImageCodec(), ["amazon.titan-image-generator"])
