"""The versioned model store on local disk, with a champion pointer.

Layout::

    <root>/<model-name>/
        champion.json          {"version": "v3", "promoted_at": ...}, replaced atomically
        v1/ v2/ v3/ ...        one folder per version, created complete by one rename
            model.joblib       the float scikit-learn Pipeline
            model.int8.npz     the int8 model (numpy.load(allow_pickle=False))
            card.json          metrics, config, data fingerprint, sha256 of every file, code version, run id

A version folder is staged under a hidden temporary name and renamed into place, so readers never see half a
version; `rename` onto an existing version fails, so two writers cannot claim the same number. Files are
verified against the sha256 in `card.json` before anything is unpickled.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from tasks.quantize import QuantizedModel

FLOAT_MODEL_FILE = "model.joblib"
INT8_MODEL_FILE = "model.int8.npz"
CARD_FILE = "card.json"
CHAMPION_FILE = "champion.json"
_VERSION_PATTERN = re.compile(r"^v(\d+)$")


class RegistryError(RuntimeError):
    """The model store is missing something or holds something it should not; the message names the path."""


class IntegrityError(RegistryError):
    """A stored file does not match the sha256 recorded in its card: it was changed or truncated."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part: temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def json_bytes(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()


def version_number(version: str) -> int:
    match = _VERSION_PATTERN.match(version)
    if not match:
        raise RegistryError(f"'{version}' is not a version name (expected v1, v2, ...)")
    return int(match.group(1))


@dataclass(frozen=True)
class VersionInfo:
    version: str
    path: Path
    card: dict[str, Any]


class ModelStore:
    """One model name's versions and champion pointer under a root folder."""

    def __init__(self, root: str | Path, name: str):
        self.root = Path(root)
        self.name = name
        self.folder = self.root / name

    # ---- reading ----------------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = [p.name for p in self.folder.iterdir() if p.is_dir() and _VERSION_PATTERN.match(p.name)]
        return sorted(found, key=version_number)

    def version_path(self, version: str) -> Path:
        version_number(version)
        path = self.folder / version
        if not path.is_dir():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"{path}: no such version of '{self.name}' (versions: {known})")
        return path

    def card(self, version: str) -> dict[str, Any]:
        path = self.version_path(version) / CARD_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"{path}: missing model card") from None
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{path}: model card is not valid JSON ({exc})") from None

    def info(self, version: str) -> VersionInfo:
        return VersionInfo(version, self.version_path(version), self.card(version))

    def champion(self) -> str | None:
        pointer = self.folder / CHAMPION_FILE
        if not pointer.exists():
            return None
        try:
            version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{pointer}: unreadable champion pointer ({exc})") from None
        self.version_path(version)
        return version

    def verified_bytes(self, version: str, filename: str) -> bytes:
        """A stored file's bytes, only after its sha256 matches the card."""
        card = self.card(version)
        path = self.version_path(version) / filename
        expected = card.get("files", {}).get(filename, {}).get("sha256")
        if expected is None:
            raise IntegrityError(f"{path}: not listed in {CARD_FILE}; refusing to load an unverified file")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RegistryError(f"{path}: file missing") from None
        actual = sha256_bytes(data)
        if actual != expected:
            raise IntegrityError(
                f"{path}: sha256 mismatch (card says {expected[:16]}..., file is {actual[:16]}...): "
                "the file was modified or truncated; refusing to load it"
            )
        return data

    def load_float_model(self, version: str) -> Any:
        data = self.verified_bytes(version, FLOAT_MODEL_FILE)
        return joblib.load(io.BytesIO(data))

    def load_quantized_model(self, version: str) -> QuantizedModel:
        data = self.verified_bytes(version, INT8_MODEL_FILE)
        return QuantizedModel.from_bytes(data, origin=str(self.version_path(version) / INT8_MODEL_FILE))

    # ---- writing ----------------------------------------------------------------------------------------
    def publish(self, files: dict[str, bytes], card: dict[str, Any]) -> str:
        """Store a new version with its files and card; return its name (v1, v2, ...).

        The card gets `version`, `created_at` and the sha256 and size of every file.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for filename, data in files.items():
                (staging / filename).write_bytes(data)
            file_entries = {name: {"sha256": sha256_bytes(d), "bytes": len(d)} for name, d in files.items()}
            full_card = {**card, "model_name": self.name, "files": file_entries,
                         "created_at": datetime.now(UTC).isoformat()}
            existing = self.versions()
            number = version_number(existing[-1]) + 1 if existing else 1
            while True:
                version = f"v{number}"
                (staging / CARD_FILE).write_bytes(json_bytes({**full_card, "version": version}))
                _fsync_folder_files(staging)
                try:
                    # rename(2) fails if the target exists and is not empty: the version number is claimed
                    # atomically, so concurrent writers cannot both take it.
                    os.rename(staging, self.folder / version)
                    return version
                except OSError:
                    if not (self.folder / version).exists():
                        raise
                    number += 1
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def promote(self, version: str, reason: str = "") -> None:
        """Point the champion at `version`, atomically."""
        self.version_path(version)
        payload = {"version": version, "promoted_at": datetime.now(UTC).isoformat(), "reason": reason}
        write_atomic(self.folder / CHAMPION_FILE, json_bytes(payload))


def _fsync_folder_files(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


# ---- command line: python -m tasks.registry list|show|promote -------------------------------------------
def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.registry", description="Inspect the model store.")
    parser.add_argument("--root", default="models", help="model store folder (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions of a model, champion marked").add_argument("name")
    show = commands.add_parser("show", help="a version's card (default: the champion)")
    show.add_argument("name")
    show.add_argument("version", nargs="?")
    promote = commands.add_parser("promote", help="make a version the champion (also to roll back)")
    promote.add_argument("name")
    promote.add_argument("version")
    args = parser.parse_args(argv)
    store = ModelStore(args.root, args.name)
    try:
        if args.command == "list":
            champion = store.champion()
            versions = store.versions()
            if not versions:
                print(f"no versions of '{args.name}' under {store.folder}")
                return 1
            for version in versions:
                card = store.card(version)
                metrics = ", ".join(f"{k}={v:.4f}" for k, v in card.get("metrics", {}).items())
                marker = "*" if version == champion else " "
                print(f"{marker} {version:>5}  {card.get('status', '?'):9} {card.get('created_at', '')}  {metrics}")
        elif args.command == "show":
            version = args.version or store.champion()
            if version is None:
                raise RegistryError(f"{store.folder}: no champion yet; name a version")
            print(json.dumps(store.card(version), indent=2, sort_keys=True))
        elif args.command == "promote":
            store.verified_bytes(args.version, FLOAT_MODEL_FILE)
            store.promote(args.version, reason="promoted by hand")
            print(f"{args.name}: champion is now {args.version}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
