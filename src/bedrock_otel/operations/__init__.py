"""Instrumented API operations, one module per API family; importing this registers them.

``guardrails`` wraps the ``converse`` and ``invoke_model`` operations (it imports them first) to add the
guardrail a request configures.
"""

from . import (  # noqa: F401
    agents,
    async_invoke,
    converse,
    count_tokens,
    flows,
    guardrails,
    invoke_model,
    knowledge_bases,
)
