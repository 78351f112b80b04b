"""Class switching shared by the stream and body observers."""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import Any, Callable, Dict, Optional, Tuple

import wrapt

_log = logging.getLogger(__name__)

OBSERVER = "_bedrock_otel_observer"
_SUBCLASSES: Dict[type, type] = {}

# What weakref.finalize does for us, minus most of its per-object cost (a registry entry object, an index,
# a global dirty flag): id(weakref) -> (the weakref, what to run when its object goes). The weakref lives
# here, outside the object, so its callback runs even when the object dies in a reference cycle.
_PENDING: Dict[int, Tuple[Any, Callable[[], None]]] = {}
_exit_hook_registered = False
_exited = False  # after the exit hook, collections run nothing (as weakref.finalize after its own)
# object's own ``__class__`` setter: a wrapt.ObjectProxy's ``__class__`` is its target's, so assigning it
# would retype the wrapped object (older aiobotocore's StreamingBody proxies aiohttp's response).
_set_own_class = object.__dict__["__class__"].__set__


def observed_subclass(mixin: type, cls: type) -> type:
    """``mixin`` layered over ``cls`` (cached), so subclasses like aiobotocore's keep their behaviour."""
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = type(f"Observed{cls.__name__}", (mixin, cls), {"__module__": mixin.__module__})
        _SUBCLASSES[cls] = sub
    return sub


def attach(obj: Any, mixin: type, observer: Any, on_collect: Callable[[], None]) -> bool:
    """Make ``obj`` report to ``observer``; ``on_collect`` runs if it is garbage-collected unfinished.

    Like ``weakref.finalize``, ``on_collect`` also runs at interpreter exit for objects still alive then.
    """
    global _exit_hook_registered
    try:
        if not isinstance(obj, mixin):
            if isinstance(obj, wrapt.ObjectProxy):
                _set_own_class(obj, observed_subclass(mixin, type(obj)))
            else:
                obj.__class__ = observed_subclass(mixin, type(obj))
        vars(obj)[OBSERVER] = observer
        ref = weakref.ref(obj, _collected)
        _PENDING[id(ref)] = (ref, on_collect)
        if not _exit_hook_registered:  # registered on first use, as weakref.finalize registers its own
            _exit_hook_registered = True
            atexit.register(_at_exit)
        return True
    except Exception:  # unusual object (slots, C type): leave it alone, telemetry degrades
        _log.debug("cannot observe %r", type(obj), exc_info=True)
        return False


def _collected(ref: Any) -> None:
    entry = _PENDING.pop(id(ref), None)
    if entry is not None and not _exited:
        entry[1]()


def _at_exit() -> None:
    """Objects still alive at exit count as collected, newest first (what weakref.finalize's atexit hook does)."""
    global _exited
    _exited = True
    while _PENDING:
        try:
            _, (_, on_collect) = _PENDING.popitem()
        except KeyError:  # pragma: no cover - emptied by another thread meanwhile
            return
        try:
            on_collect()
        except Exception:  # pragma: no cover - on_collect ends an invocation, which never raises
            _log.debug("bedrock-otel could not end an observed call at exit", exc_info=True)


def pending() -> int:
    """How many observed objects are still alive (with ``on_collect`` not yet run): for leak tests."""
    return len(_PENDING)


def observer_of(obj: Any) -> Optional[Any]:
    return vars(obj).get(OBSERVER)
