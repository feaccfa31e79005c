"""The model store's shared behaviour, written once on top of a backend's primitives.

`Store` holds everything that must behave the same on every backend: publishing with the champion re-check, the
card (file hashes, status, reason) and its HMAC signature, the champion pointer's `card_sha256` pin, verification
before anything is unpickled, the rollback target, and loading. A backend (`ModelStore` on a local folder,
`ObjectModelStore` on S3) only says how to stage files, claim a number, make a version visible, compare-and-swap
the pointer, list and read. Adding a backend means writing those primitives and nothing else
(tests/unit/test_store_backends.py does it with an in-memory one).

How a backend keeps the guarantees is its own business: a folder uses a file lock and rename (`_exclusive` holds
the lock, so the swap never loses), an object store conditional writes (no lock: a lost swap raises
`PreconditionFailed` and `publish` re-reads the pointer, re-checks against whoever is champion now, rewrites the
still invisible card and tries again, for up to `lock_timeout` seconds).
"""

from __future__ import annotations

import abc
import contextlib
import hmac
import io
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar

import joblib

from mlops_pipeline.objectstore import PreconditionFailed
from mlops_pipeline.quantize import AnyQuantizedModel, model_from_bytes
from mlops_pipeline.registry._common import (
    CARD_FILE,
    CHAMPION_FILE,
    FLOAT_MODEL_FILE,
    HMAC_KEY_ENV,
    INT8_MODEL_FILE,
    PASSED,
    REJECTED,
    SIGNATURE_FILE,
    ChampionRecheck,
    IntegrityError,
    Publication,
    RegistryError,
    card_signature,
    hmac_key,
    json_bytes,
    sha256_bytes,
    version_number,
)


class Store(abc.ABC):
    """One model name's versions and champion pointer; `open_store` picks the backend by the root.

    Backend primitives (abstract): `location`, `versions`, `_has_version`, `_read`, `_model_exists`,
    `_read_pointer`, `_swap_pointer`, `_begin_version`, `_write`, `_claim_number`, `_make_visible`, `_discard`,
    `check_writable`, `clean_stale_staging`; optionally `_exclusive` (a lock around the pointer read and swap) and
    `pointer_reveals_version`.
    """

    name: str
    lock_timeout: float  # how long a lock is waited for, or a lost compare-and-swap retried

    # Whether a pointer naming a version makes it visible. True (object store): the pointer moves first and the
    # version is marked visible after, so a lost swap can still rewrite the card nobody has seen. False (folder):
    # the version must exist before the pointer names it, so it is made visible first; `_exclusive` must then
    # guarantee the swap does not lose.
    pointer_reveals_version: ClassVar[bool] = False

    # ---- primitives: reading ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def location(self, version: str | None = None, filename: str | None = None) -> str:
        """Where the model, a version or one of its files lives (a path or URL, for messages)."""

    @abc.abstractmethod
    def versions(self) -> list[str]:
        """The visible versions, oldest first."""

    @abc.abstractmethod
    def _has_version(self, version: str) -> bool:
        """Whether `version` is visible."""

    @abc.abstractmethod
    def _read(self, version: str, filename: str) -> bytes | None:
        """A visible version's file, None when it has no such file."""

    @abc.abstractmethod
    def _model_exists(self) -> bool:
        """Whether anything was ever stored under this model name."""

    @abc.abstractmethod
    def _read_pointer(self) -> tuple[bytes | None, str | None]:
        """The champion pointer's bytes (None: no champion) and the token `_swap_pointer` compares against."""

    # ---- primitives: writing ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def _swap_pointer(self, data: bytes, version: str, previous: str | None, token: str | None) -> None:
        """Replace the pointer (naming `version`, moving from `previous`) only if it is still what `token` was
        read from; raise PreconditionFailed if another writer moved it since."""

    @abc.abstractmethod
    def _begin_version(self) -> str:
        """Start a version no reader sees yet; return its handle (a staging name, a claimed version...)."""

    @abc.abstractmethod
    def _write(self, staged: str, filename: str, data: bytes) -> None:
        """Write one file of a staged version (a RegistryError naming the file and saying nothing was published)."""

    @abc.abstractmethod
    def _claim_number(self, staged: str) -> str:
        """The version name the staged files are published as (called inside `_exclusive`)."""

    @abc.abstractmethod
    def _make_visible(self, staged: str, version: str) -> None:
        """Make a staged version, files and card complete, visible to readers as `version`."""

    @abc.abstractmethod
    def _discard(self, staged: str) -> None:
        """Clean up after a publish that failed before its version became visible (may do nothing)."""

    @abc.abstractmethod
    def check_writable(self) -> None:
        """Fail now, naming the store, if it cannot be written (a run checks this before it trains)."""

    @abc.abstractmethod
    def clean_stale_staging(self) -> list[str]:
        """Remove what killed publishes left behind, never what a live writer is still using; return the names."""

    def _exclusive(self) -> AbstractContextManager[None]:
        """Held while the pointer is read, the number claimed and the pointer swapped (no lock by default)."""
        return contextlib.nullcontext()

    # ---- reading and verifying -------------------------------------------------------------------------------
    def _require_version(self, version: str) -> None:
        version_number(version)
        if not self._has_version(version):
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"{self.location(version)}: no such version of '{self.name}' (versions: {known})")

    def _read_file(self, version: str, filename: str) -> bytes | None:
        self._require_version(version)
        return self._read(version, filename)

    def _pointer_and_token(self) -> tuple[dict[str, Any] | None, str | None]:
        data, token = self._read_pointer()
        if data is None:
            return None, token
        try:
            payload = json.loads(data.decode("utf-8"))
            payload["version"]  # noqa: B018 - a pointer without a version is unreadable
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(
                f"{self.location(filename=CHAMPION_FILE)}: unreadable champion pointer ({exc})"
            ) from None
        return payload, token

    def pointer(self) -> dict[str, Any] | None:
        """The champion pointer's content, or None when there is no champion."""
        return self._pointer_and_token()[0]

    def champion(self) -> str | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        version = pointer["version"]
        self._require_version(version)
        return version

    def card_bytes(self, version: str) -> bytes:
        data = self._read_file(version, CARD_FILE)
        if data is None:
            raise RegistryError(f"{self.location(version, CARD_FILE)}: missing model card")
        return data

    def _parse_card(self, version: str, data: bytes) -> dict[str, Any]:
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"{self.location(version, CARD_FILE)}: model card is not valid JSON ({exc})") from None

    def card(self, version: str) -> dict[str, Any]:
        """A version's card as stored (for listing and inspection; loads go through `verified_card`)."""
        return self._parse_card(version, self.card_bytes(version))

    def verified_card(self, version: str) -> dict[str, Any]:
        """The card, only after (1) its HMAC matches when MLOPS_STORE_HMAC_KEY is set and (2), for the champion,
        its sha256 matches the `card_sha256` the champion pointer recorded when it moved."""
        data = self.card_bytes(version)
        key = hmac_key()
        if key is not None:
            signed = self._read_file(version, SIGNATURE_FILE)
            if signed is None:
                raise IntegrityError(
                    f"{self.location(version, SIGNATURE_FILE)}: missing; {HMAC_KEY_ENV} is set, so every card must be "
                    "signed (publish with the key set, or re-sign after checking it)"
                )
            signature = signed.decode("utf-8", errors="replace").strip()
            if not hmac.compare_digest(signature, card_signature(data, key)):
                raise IntegrityError(
                    f"{self.location(version, CARD_FILE)}: HMAC does not match {SIGNATURE_FILE} (the card was "
                    f"edited, or signed with another {HMAC_KEY_ENV}); refusing to trust it"
                )
        pointer = self.pointer()
        if pointer is not None and pointer["version"] == version and pointer.get("card_sha256") is not None:
            actual = sha256_bytes(data)
            if actual != pointer["card_sha256"]:
                raise IntegrityError(
                    f"{self.location(version, CARD_FILE)}: sha256 {actual[:16]}... does not match the card_sha256 "
                    f"{pointer['card_sha256'][:16]}... that {self.location(filename=CHAMPION_FILE)} recorded: the card "
                    "was edited after promotion; refusing to load the champion"
                )
        return self._parse_card(version, data)

    def verified_bytes(self, version: str, filename: str) -> bytes:
        """A stored file's bytes, only after its sha256 matches the (verified) card."""
        card = self.verified_card(version)
        path = self.location(version, filename)
        expected = card.get("files", {}).get(filename, {}).get("sha256")
        if expected is None:
            raise IntegrityError(f"{path}: not listed in {CARD_FILE}; refusing to load an unverified file")
        data = self._read_file(version, filename)
        if data is None:
            raise RegistryError(f"{path}: file missing")
        actual = sha256_bytes(data)
        if actual != expected:
            raise IntegrityError(
                f"{path}: sha256 mismatch (card says {expected[:16]}..., file is {actual[:16]}...): "
                "the file was modified or truncated; refusing to load it"
            )
        return data

    def verify(self, version: str) -> list[str]:
        """Check every file listed in the card against its sha256; return the file names checked."""
        names = sorted(self.verified_card(version).get("files", {}))
        if FLOAT_MODEL_FILE not in names:
            raise IntegrityError(f"{self.location(version, CARD_FILE)}: lists no {FLOAT_MODEL_FILE}")
        for filename in names:
            self.verified_bytes(version, filename)
        return names

    def passing_versions(self) -> list[str]:
        """Versions whose card says they passed every check, oldest first."""
        return [v for v in self.versions() if self.card(v).get("status") == PASSED]

    def best_passed_metric(
        self, metric: str, data_fingerprint: str, lower_is_better: bool, up_to: str | None = None
    ) -> tuple[str, float] | None:
        """The best `metric` any passed version reached on the same held-out data definition (the card's
        `data.fingerprint`: data bytes + target + features + test_size + seed + imputation), with its version."""
        best: tuple[str, float] | None = None
        for version in self.passing_versions():
            if up_to is not None and version_number(version) > version_number(up_to):
                continue
            card = self.card(version)
            value = (card.get("metrics") or {}).get(metric)
            if value is None or (card.get("data") or {}).get("fingerprint") != data_fingerprint:
                continue
            if best is None or (value < best[1] if lower_is_better else value > best[1]):
                best = (version, float(value))
        return best

    def load_float_model(self, version: str) -> Any:
        data = self.verified_bytes(version, FLOAT_MODEL_FILE)
        return joblib.load(io.BytesIO(data))

    def load_quantized_model(self, version: str) -> AnyQuantizedModel:
        """The version's pickle-free model file of any family (int8 layers, trees), after the hash check."""
        data = self.verified_bytes(version, INT8_MODEL_FILE)
        return model_from_bytes(data, origin=self.location(version, INT8_MODEL_FILE))

    # ---- writing -------------------------------------------------------------------------------------------
    def publish(
        self,
        files: dict[str, bytes],
        card: dict[str, Any],
        *,
        promote: bool = False,
        gated_against: str | None = None,
        recheck: ChampionRecheck | None = None,
        reason: str = "",
    ) -> Publication:
        """Store a new version (v1, v2, ...) with its files and card, and promote it if asked.

        The card gets `version`, `status`, `reason`, `rechecked_against`, `created_at` and the sha256 and size of
        every file (and is signed when MLOPS_STORE_HMAC_KEY is set). With `promote`, the candidate was gated
        against the champion `gated_against`; if another run has moved the champion since, `recheck(current)`
        runs before the pointer moves, and any reason it gives stores the version as rejected instead. The big
        files are written first, outside `_exclusive`, so other writers wait only for the card and the swap.
        """
        self.clean_stale_staging()
        staged = self._begin_version()
        try:
            for filename, data in files.items():
                self._write(staged, filename, data)
            file_entries = {name: {"sha256": sha256_bytes(d), "bytes": len(d)} for name, d in files.items()}
            started = time.monotonic()
            while True:
                with self._exclusive():
                    pointer, token = self._pointer_and_token() if promote else (None, None)
                    current = pointer["version"] if pointer is not None else None
                    status, promoted, why = (PASSED, True, reason) if promote else (REJECTED, False, reason)
                    rechecked_against = None
                    if promote and current is not None and current != gated_against and recheck is not None:
                        problems = recheck(current)
                        rechecked_against = current
                        if problems:
                            status, promoted = REJECTED, False
                            why = (
                                f"the champion moved to {current} during this run and the candidate does not "
                                f"beat it: {'; '.join(problems)}"
                            )
                    version = self._claim_number(staged)
                    full_card = {
                        **card,
                        "model_name": self.name,
                        "files": file_entries,
                        "version": version,
                        "status": status,
                        "reason": why,
                        "rechecked_against": rechecked_against,
                        "created_at": datetime.now(UTC).isoformat(),
                    }
                    card_data = json_bytes(full_card)
                    self._write(staged, CARD_FILE, card_data)
                    key = hmac_key()
                    if key is not None:
                        self._write(staged, SIGNATURE_FILE, (card_signature(card_data, key) + "\n").encode())
                    try:
                        self._reveal(staged, version, card_data, why, current, token, promoted)
                    except PreconditionFailed:  # another run moved the champion since we read it: re-check
                        self._give_up_after(started, f"could not promote {version}")
                        continue
                    return Publication(version, status, promoted, why)
        except BaseException:
            self._discard(staged)
            raise

    def _reveal(
        self,
        staged: str,
        version: str,
        card_data: bytes,
        reason: str,
        previous: str | None,
        token: str | None,
        promoted: bool,
    ) -> None:
        if not promoted:
            self._make_visible(staged, version)
            return
        pointer = self._pointer_payload(version, card_data, reason)
        if self.pointer_reveals_version:
            self._swap_pointer(pointer, version, previous, token)
            self._make_visible(staged, version)
        else:
            self._make_visible(staged, version)
            self._swap_pointer(pointer, version, previous, token)

    @staticmethod
    def _pointer_payload(version: str, card_data: bytes, reason: str) -> bytes:
        # the card's sha256 pins what was promoted: a card edited later (with its model) no longer matches
        return json_bytes(
            {
                "version": version,
                "card_sha256": sha256_bytes(card_data),
                "promoted_at": datetime.now(UTC).isoformat(),
                "reason": reason,
            }
        )

    def _give_up_after(self, started: float, what: str) -> None:
        if time.monotonic() - started > self.lock_timeout:
            raise RegistryError(
                f"{self.location(filename=CHAMPION_FILE)}: {what}: other runs kept moving the champion for over "
                f"{self.lock_timeout:g} s (registry.lock_timeout_seconds)"
            )

    def _move_champion(
        self, choose: Callable[[str | None], str], reason: Callable[[str | None], str], what: str
    ) -> tuple[str | None, str]:
        """Point the champion at `choose(current)` (which checks and verifies it), retrying a lost swap.

        Returns (previous champion, new champion)."""
        started = time.monotonic()
        while True:
            with self._exclusive():
                pointer, token = self._pointer_and_token()
                current = pointer["version"] if pointer is not None else None
                target = choose(current)
                data = self._pointer_payload(target, self.card_bytes(target), reason(current))
                try:
                    self._swap_pointer(data, target, current, token)
                    return current, target
                except PreconditionFailed:
                    self._give_up_after(started, f"could not {what} {target}")

    def promote(self, version: str, reason: str = "", force: bool = False) -> None:
        """Point the champion at `version` (files verified first); a rejected version only with `force`."""
        self._require_version(version)  # an unknown version fails here, before a lock creates any file

        def checked(current: str | None) -> str:
            self.verify(version)
            status = self.card(version).get("status")
            if status != PASSED and not force:
                raise RegistryError(
                    f"{self.location(version)}: status is '{status}', not '{PASSED}'; it failed a check "
                    "(see its card) - promote it anyway with --force"
                )
            return version

        self._move_champion(checked, lambda current: reason, "promote")

    def rollback(self, version: str | None = None) -> tuple[str, str]:
        """Move the champion back to `version`, or to the newest passing version older than the champion.

        Returns (previous champion, new champion)."""
        if not self._model_exists():  # fail before a lock creates the folder of a name that does not exist
            raise RegistryError(f"{self.location()}: no model named '{self.name}'")

        def target(current: str | None) -> str:
            chosen = version
            if chosen is None:
                if current is None:
                    raise RegistryError(f"{self.location()}: no champion to roll back from")
                older = [v for v in self.passing_versions() if version_number(v) < version_number(current)]
                if not older:
                    raise RegistryError(f"{self.location()}: no passing version older than the champion {current}")
                chosen = older[-1]
            status = self.card(chosen).get("status")
            if status != PASSED:
                raise RegistryError(
                    f"{self.location(chosen)}: status is '{status}'; roll back to a "
                    f"passing version ({', '.join(self.passing_versions()) or 'none'})"
                )
            self.verify(chosen)
            return chosen

        previous, current = self._move_champion(target, lambda current: f"rolled back from {current}", "roll back to")
        return previous or "none", current
