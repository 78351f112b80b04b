"""Model families: one small codec per family behind :class:`.base.ModelCodec`."""

from .base import ModelCodec, Outcome, StreamDecoder
from .ids import base_model_id, vendor_of
from .registry import codec_for, codec_for_request, register, registered

__all__ = [
    "ModelCodec",
    "Outcome",
    "StreamDecoder",
    "base_model_id",
    "codec_for",
    "codec_for_request",
    "register",
    "registered",
    "vendor_of",
]
