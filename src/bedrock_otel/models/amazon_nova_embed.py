"""Amazon Nova Multimodal Embeddings: ``taskType`` + ``singleEmbeddingParams`` in, ``embeddings[]`` out.

Registered so these ids are not mistaken for Nova chat models (they share the ``amazon.nova-`` prefix).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import EmbeddingsCodec, Fields
from .content import ContentFields
from .registry import register

_TASKS = frozenset({"SINGLE_EMBEDDING", "SEGMENTED_EMBEDDING"})


class NovaEmbedCodec(EmbeddingsCodec):
    family = "amazon.nova-embed"
    title = "Amazon Nova Multimodal Embeddings"
    params = {
        A.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: (
            "singleEmbeddingParams.embeddingDimension",
            "segmentedEmbeddingParams.embeddingDimension",
        ),
    }
    response_fields = Fields(outputs=("embeddings[]",), output_kind="embedding")
    content = ContentFields(
        prompt=("singleEmbeddingParams.text.value", "segmentedEmbeddingParams.text.value"),
        media=("singleEmbeddingParams.image", "segmentedEmbeddingParams.image"),
    )

    def claims(self, request: Mapping[str, Any]) -> bool:
        return request.get("taskType") in _TASKS


register(NovaEmbedCodec(), ["amazon.nova-2-multimodal-embeddings", "amazon.nova-multimodal-embeddings"])
