"""Work done on first use instead of at init, and before a SnapStart snapshot all the same.

What only some requests need (an optional import, a compiled template, an AWS client) is
built where it is first used, so a cold start without SnapStart does not pay for it up front
and requests that never use it never pay at all. Whatever defers such work registers the
function doing it with `before_snapshot` (`on_first_use` does so itself);
`web/snapstart.before_checkpoint` calls every registered function before the snapshot, so a
copy restored from it finds the work done, as when it was done at init.

A registered function takes no arguments, may be called again (it finds its work done) and
calls AWS for nothing. It is held weakly: it is called for as long as its owner lives (the
objects of one app, in a process that builds several), a module-level function for good.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable

type Build = Callable[[], object]

_registered: list[weakref.ref[Build]] = []
# One lock for every first use: they are rare, and boto3 must not create two clients at once
# (its default session is not safe for that).
_lock = threading.RLock()


def before_snapshot[F: Build](build: F) -> F:
    """Register `build` (once, however often this is called) and return it."""
    with _lock:
        if not any(ref() == build for ref in _registered):
            ref: weakref.ref[Build] = (
                weakref.WeakMethod(build) if inspect.ismethod(build) else weakref.ref(build)
            )
            _registered.append(ref)
    return build


def registered() -> list[Build]:
    """The registered functions still alive, oldest first."""
    with _lock:
        alive = [(ref, build) for ref in _registered if (build := ref()) is not None]
        _registered[:] = [ref for ref, _ in alive]
        return [build for _, build in alive]


def describe(build: Build) -> str:
    """A registered function's name, for logs: the function behind a partial or first use."""
    inner: object = build
    while True:
        if isinstance(inner, OnFirstUse):
            inner = inner.build
        elif isinstance(inner, functools.partial):
            inner = inner.func
        else:
            break
    return str(getattr(inner, "__qualname__", None) or repr(inner))


class OnFirstUse[T]:
    """Calls `build` once, on the first call (from whichever thread), and returns its result
    from then on; registered to be called before a snapshot."""

    def __init__(self, build: Callable[[], T]) -> None:
        self.build = build
        self._result: list[T] = []
        before_snapshot(self)

    def __call__(self) -> T:
        if not self._result:
            with _lock:
                if not self._result:
                    self._result.append(self.build())
        return self._result[0]

    @property
    def done(self) -> bool:
        return bool(self._result)


def on_first_use[T](build: Callable[[], T]) -> OnFirstUse[T]:
    """What `build` returns, built by the first call or before a snapshot, whichever is first."""
    return OnFirstUse(build)
