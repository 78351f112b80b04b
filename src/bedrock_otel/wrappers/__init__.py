"""In-place observers for what botocore returns: event streams and streaming bodies.

Both work by switching the returned object's class to a subclass that reports to an
:class:`~bedrock_otel.telemetry.invocation.Invocation`. The application keeps the very object
botocore made (same identity, same state, ``isinstance`` unchanged); nothing is buffered or
replaced, and every code path of the subclass calls the original method first.
"""
