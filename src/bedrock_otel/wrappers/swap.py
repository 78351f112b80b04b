"""Class switching shared by the stream and body observers."""

from __future__ import annotations

import logging
import weakref
from typing import Any, Callable, Dict, Optional

_log = logging.getLogger(__name__)

OBSERVER = "_bedrock_otel_observer"
_SUBCLASSES: Dict[type, type] = {}


def observed_subclass(mixin: type, cls: type) -> type:
    """``mixin`` layered over ``cls`` (cached), so subclasses like aiobotocore's keep their behaviour."""
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = type(f"Observed{cls.__name__}", (mixin, cls), {"__module__": mixin.__module__})
        _SUBCLASSES[cls] = sub
    return sub


def attach(obj: Any, mixin: type, observer: Any, on_collect: Callable[[], None]) -> bool:
    """Make ``obj`` report to ``observer``; ``on_collect`` runs if it is garbage-collected unfinished."""
    try:
        if not isinstance(obj, mixin):
            obj.__class__ = observed_subclass(mixin, type(obj))
        vars(obj)[OBSERVER] = observer
        weakref.finalize(obj, on_collect)
        return True
    except Exception:  # unusual object (slots, C type): leave it alone, telemetry degrades
        _log.debug("cannot observe %r", type(obj), exc_info=True)
        return False


def observer_of(obj: Any) -> Optional[Any]:
    return vars(obj).get(OBSERVER)
