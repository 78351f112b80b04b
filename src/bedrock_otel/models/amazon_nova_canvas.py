"""Amazon Nova Canvas image generation, and the request/response schema it shares with Titan Image.

Requests name a ``taskType`` (``TEXT_IMAGE``, ``INPAINTING``, …) with its params and an
``imageGenerationConfig`` (``numberOfImages``, ``seed``, size, ``cfgScale``); responses are
``{"images": [base64, …]}``. Only the image count reaches telemetry, never the base64.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ImageCodec
from .content import ContentFields
from .registry import register

_TASKS = frozenset({
    "TEXT_IMAGE", "INPAINTING", "OUTPAINTING", "IMAGE_VARIATION", "COLOR_GUIDED_GENERATION",
    "BACKGROUND_REMOVAL", "VIRTUAL_TRY_ON",
})

# Where each task keeps its texts (prompt, negative prompt, mask prompt) and its input images.
_TASK_TEXTS = (
    ("textToImageParams", ("text", "negativeText")),
    ("inPaintingParams", ("text", "negativeText", "maskPrompt")),
    ("outPaintingParams", ("text", "negativeText", "maskPrompt")),
    ("imageVariationParams", ("text", "negativeText")),
    ("colorGuidedGenerationParams", ("text", "negativeText")),
    ("virtualTryOnParams", ("maskPrompt",)),
)
_TASK_IMAGES = (
    ("textToImageParams", ("conditionImage",)),
    ("inPaintingParams", ("image", "maskImage")),
    ("outPaintingParams", ("image", "maskImage")),
    ("imageVariationParams", ("images[]",)),
    ("colorGuidedGenerationParams", ("referenceImage",)),
    ("backgroundRemovalParams", ("image",)),
    ("virtualTryOnParams", ("sourceImage", "referenceImage")),
)


class AmazonImageCodec(ImageCodec):
    """Base for Amazon's image generators (Nova Canvas, Titan Image Generator v1/v2)."""

    params = {
        A.GEN_AI_REQUEST_CHOICE_COUNT: ("imageGenerationConfig.numberOfImages",),
        A.GEN_AI_REQUEST_SEED: ("imageGenerationConfig.seed",),
    }
    response_fields = Fields(outputs=("images[]",), output_kind="image")
    content = ContentFields(
        prompt=tuple(f"{task}.{key}" for task, keys in _TASK_TEXTS for key in keys),
        media=tuple(f"{task}.{key}" for task, keys in _TASK_IMAGES for key in keys),
        output_media=("images[]",),
    )


class NovaCanvasCodec(AmazonImageCodec):
    family = "amazon.nova-canvas"
    title = "Amazon Nova Canvas"

    def claims(self, request: Mapping[str, Any]) -> bool:
        # Titan Image takes the same bodies; an opaque id is attributed to the current model.
        return request.get("taskType") in _TASKS


register(NovaCanvasCodec(), ["amazon.nova-canvas"])
