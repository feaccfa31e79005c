"""Where a source is and getting its bytes: a built-in set name, a local path or a URL; the file format from the
suffix (or data.format); a local copy with its sha256 (local files in place, http(s) through httpx, every other
scheme through fsspec, streamed to a temporary file while hashed)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from mlops_pipeline.data._builtin import BUILTIN_DATASETS
from mlops_pipeline.data._errors import DataLoadError, TransientLoadError, http_status_is_transient
from mlops_pipeline.plain import sha256_stream

FileFormat = Literal["csv", "parquet", "npz"]
_SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}
_COPY_BLOCK = 1 << 20


# ---- where a source is and what format it has ------------------------------------------------------------------
@dataclass(frozen=True)
class SourceSpec:
    kind: Literal["builtin", "local", "http", "fsspec"]
    location: str  # built-in name, local path or URL
    format: FileFormat | None
    delimiter: str = ","


def _format_for(location: str, fmt: str, origin: str) -> FileFormat:
    if fmt != "auto":
        return fmt  # type: ignore[return-value]
    suffix = Path(urlparse(location).path if "://" in location else location).suffix.lower()
    try:
        return _SUFFIX_FORMATS[suffix]
    except KeyError:
        raise DataLoadError(
            f"{origin}: cannot tell the file format from the suffix '{suffix or '(none)'}' "
            f"(known: {', '.join(sorted(_SUFFIX_FORMATS))}); set data.format to csv, parquet or npz"
        ) from None


def resolve_source(source: str, fmt: str = "auto", delimiter: str = ",") -> SourceSpec:
    """Decide whether `source` is a built-in set, a local file or a URL, and which reader it needs."""
    if source in BUILTIN_DATASETS:
        return SourceSpec("builtin", source, None)
    scheme = urlparse(source).scheme.lower() if "://" in source else ""
    if scheme == "file":
        path = unquote(urlparse(source).path)
        kind: Literal["local", "http", "fsspec"] = "local"
        location = path
    elif scheme in ("http", "https"):
        kind, location = "http", source
    elif scheme:
        kind, location = "fsspec", source
    else:
        kind, location = "local", source
        if "/" not in source and "\\" not in source and "." not in source and not Path(source).exists():
            raise DataLoadError(
                f"data.source '{source}': no such file, and not a built-in data set "
                f"(known: {', '.join(sorted(BUILTIN_DATASETS))})"
            )
    file_format = _format_for(location, fmt, f"data.source '{source}'")
    if file_format == "csv" and fmt == "auto" and delimiter == "," and location.lower().endswith(".tsv"):
        delimiter = "\t"
    return SourceSpec(kind, location, file_format, delimiter)


# ---- getting the bytes -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalCopy:
    path: Path
    sha256: str
    n_bytes: int


def _copy_hashing(read: Callable[[int], bytes], destination: Path) -> tuple[str, int]:
    """Copy a stream to `destination`, returning the sha256 and size of exactly the bytes copied."""
    with destination.open("wb") as out:

        def read_and_copy(size: int) -> bytes:
            block = read(size)
            out.write(block)
            return block

        return sha256_stream(read_and_copy, _COPY_BLOCK)


def file_digest(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size in bytes of a local file."""
    with path.open("rb") as handle:
        return sha256_stream(handle.read, _COPY_BLOCK)


def download_http(url: str, destination: Path, timeout: float) -> tuple[str, int]:
    """Stream a URL to a file; return its sha256 and size. 5xx/timeouts/resets are transient, 4xx are not."""
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            status = response.status_code
            if status >= 400:
                reason = f"HTTP {status} {response.reason_phrase}".strip()
                if http_status_is_transient(status):
                    raise TransientLoadError(f"{url}: {reason} (a server-side error; retrying may help)")
                raise DataLoadError(f"{url}: {reason}; not retried (the request itself is wrong: check the URL)")
            chunks = response.iter_bytes(_COPY_BLOCK)
            return _copy_hashing(lambda _size: next(chunks, b""), destination)
    except httpx.TimeoutException as exc:
        raise TransientLoadError(f"{url}: timed out after {timeout:g} s ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:  # connection refused/reset, incomplete body, DNS
        raise TransientLoadError(f"{url}: connection failed ({type(exc).__name__}: {exc})") from exc
    except httpx.InvalidURL as exc:
        raise DataLoadError(f"{url}: not a valid URL ({exc})") from None


def download_fsspec(url: str, destination: Path) -> tuple[str, int]:
    """Copy any fsspec URL (s3://, gs://, memory://, ...) to a file; return its sha256 and size."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        with fsspec.open(url, "rb") as source:
            return _copy_hashing(source.read, destination)
    except ImportError as exc:
        raise DataLoadError(f"{url}: reading '{protocol}://' URLs needs an extra package ({exc})") from None
    except FileNotFoundError:
        raise DataLoadError(f"{url}: file not found") from None
    except PermissionError as exc:
        raise DataLoadError(f"{url}: permission denied ({exc})") from None
    except ValueError as exc:  # unknown protocol, malformed URL
        raise DataLoadError(f"{url}: cannot be opened with fsspec ({exc})") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientLoadError(f"{url}: read failed ({type(exc).__name__}: {exc})") from exc


@contextmanager
def local_copy(spec: SourceSpec, timeout: float = 30.0, *, hash_local: bool = True) -> Iterator[LocalCopy]:
    """The source as a local file with its sha256: local files in place, URLs in a temporary folder."""
    if spec.kind == "local":
        path = Path(spec.location)
        if not path.exists():
            raise DataLoadError(f"{spec.location}: file not found (data.source / --data)")
        if path.is_dir():
            raise DataLoadError(f"{spec.location}: is a folder, expected a .csv, .tsv, .parquet or .npz file")
        sha256, n_bytes = file_digest(path) if hash_local else ("", path.stat().st_size)
        yield LocalCopy(path, sha256, n_bytes)
        return
    folder = Path(tempfile.mkdtemp(prefix="mlops-data-"))
    try:
        destination = folder / (Path(urlparse(spec.location).path).name or "download")
        if spec.kind == "http":
            sha256, n_bytes = download_http(spec.location, destination, timeout)
        else:
            sha256, n_bytes = download_fsspec(spec.location, destination)
        yield LocalCopy(destination, sha256, n_bytes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
