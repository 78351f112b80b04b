"""How a failure is named in ``error.type``: AWS error codes where botocore knows them."""

from __future__ import annotations


def error_type(exc: BaseException) -> str:
    """The AWS error code (``ThrottlingException``, ``modelStreamErrorException`` …) or the class name.

    botocore's ClientError and EventStreamError carry the service's own code; anything else
    (timeouts, connection drops, parse errors) is named by its fully qualified class.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
