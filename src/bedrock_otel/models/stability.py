"""Stability AI image models: Stable Diffusion 3.x, Stable Image Core/Ultra and the image services,
plus the older SDXL body.

Current models take ``prompt`` (``mode``, ``aspect_ratio``, ``seed``, ``output_format``) and answer
``{"images": [...], "seeds": [...], "finish_reasons": [null | "Filter reason: …"]}``; SDXL takes
``text_prompts`` and answers ``artifacts[]`` with ``base64`` and ``finishReason``. A null finish
reason means success and is not reported.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ImageCodec
from .content import ContentFields
from .registry import register


class StabilityCodec(ImageCodec):
    family = "stability"
    title = "Stability AI (SD3.x, Stable Image Core/Ultra, SDXL)"
    params = {A.GEN_AI_REQUEST_SEED: ("seed",), A.GEN_AI_REQUEST_CHOICE_COUNT: ("samples",)}
    response_fields = Fields(
        finish_reasons=("finish_reasons[]", "artifacts[].finishReason"),
        outputs=("images[]", "artifacts[]"),
        output_kind="image",
    )
    content = ContentFields(
        prompt=("prompt", "negative_prompt", "text_prompts[].text"), media=("image", "init_image", "mask"),
        output_media=("images[]", "artifacts[].base64"),
    )

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "text_prompts" in request or ("prompt" in request and ("aspect_ratio" in request
                                                                     or "output_format" in request))


register(StabilityCodec(), ["stability."])
