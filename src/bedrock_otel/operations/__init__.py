"""Instrumented API operations, one module per API family; importing this registers them."""

from . import converse, invoke_model  # noqa: F401
