"""Follow a model's champion pointer and swap the served model atomically.

A background thread reads the champion every `poll_seconds` through the ModelStore API. When it names another
version (a promotion or a rollback), that version is loaded and verified completely *before* the one reference
requests read is replaced, so a request that started on the old model finishes on it and no request ever sees a
half-loaded one. A version that fails to load (sha256 mismatch, missing file, unreadable pointer) is refused and
logged once; the old model keeps serving, and the load is retried while the pointer still names it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from mlops_pipeline.registry import RegistryError, Store

from .model import ModelLoader, ServedModel

logger = logging.getLogger("serving.watcher")


@dataclass(frozen=True)
class Refusal:
    version: str
    error: str


class ChampionWatcher:
    def __init__(
        self,
        store: Store,
        loader: ModelLoader,
        poll_seconds: float = 1.0,
        on_swap: Callable[[ServedModel | None, ServedModel], None] | None = None,
    ):
        self.store = store
        self.loader = loader
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap
        self._current: ServedModel | None = None
        self.refused: Refusal | None = None
        self.polls = 0  # completed polls, so tests and /health can wait for "the watcher has looked"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_lock = threading.Lock()

    @property
    def current(self) -> ServedModel | None:
        """The model requests are answered with (one reference read: atomic)."""
        return self._current

    def load_initial(self) -> ServedModel:
        """Load the champion at start-up; fail (naming the store path) if there is none or it does not verify."""
        version = self.store.champion()
        if version is None:
            raise RegistryError(
                f"{self.store.location()}: '{self.store.name}' has no champion yet; train one first "
                "(python flows/pipeline.py)"
            )
        self._swap(self.loader(self.store, version))
        return self._current  # type: ignore[return-value]

    def poll(self) -> None:
        """One look at the pointer; swap if it moved to a version that loads and verifies."""
        with self._poll_lock:
            try:
                self._poll_once()
            finally:
                self.polls += 1

    def _poll_once(self) -> None:
        try:
            version = self.store.champion()
        except Exception as exc:  # an unreadable pointer: keep serving what we have
            self._refuse("?", exc)
            return
        current = self._current
        if version is None or (current is not None and version == current.version):
            if current is not None and version == current.version:
                self.refused = None  # the pointer is back on the served version
            return
        try:
            loaded = self.loader(self.store, version)
        except Exception as exc:
            self._refuse(version, exc)
            return
        self._swap(loaded)

    def _refuse(self, version: str, exc: Exception) -> None:
        refusal = Refusal(version, f"{type(exc).__name__}: {exc}")
        if refusal != self.refused:  # log a broken champion once, not every poll
            served = self._current.version if self._current else "nothing"
            logger.error(
                "champion %s of %s refused, still serving %s: %s", version, self.store.name, served, refusal.error
            )
        self.refused = refusal

    def _swap(self, new: ServedModel) -> None:
        old = self._current
        self._current = new  # the swap: one reference assignment
        self.refused = None
        if old is not None:
            logger.warning("now serving %s %s (was %s)", new.name, new.version, old.version)
        else:
            logger.info("serving %s %s (%s, sha256 %s)", new.name, new.version, new.kind, new.sha256[:16])
        if self.on_swap is not None:
            self.on_swap(old, new)

    # ---- the background thread ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # never let the watcher die: the next poll tries again
                logger.exception("champion watcher: poll failed")
