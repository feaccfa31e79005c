"""The versioned model store with a champion pointer, on a local folder or an object store.

One model name holds versions v1, v2, ... and a champion pointer::

    <root>/<model-name>/
        champion.json          {"version": "v3", "card_sha256": ..., "promoted_at": ..., "reason": ...}
        v1/ v2/ v3/ ...        one version each, visible only once complete
            model.joblib       the float scikit-learn Pipeline
            model.int8.npz     the int8 model (numpy.load(allow_pickle=False)); absent when quantization is off
            card.json          status (passed/rejected), metrics, config, data fingerprint, sha256 of every
                               file, code version, run id
            card.json.hmac     HMAC-SHA256 of card.json, only when MLOPS_STORE_HMAC_KEY is set at publish

Two backends, picked by `open_store(root, name)` from the root:

- `ModelStore` (`_local`): a folder. A version is staged under a hidden folder and renamed into place; the
  number is chosen and the champion moved under a file lock (`.lock`, `registry.lock_timeout_seconds`).
- `ObjectModelStore` (`_object`): `s3://bucket/prefix` (or `memory://` in tests). No rename, no lock: a number
  is claimed with a conditional create, a version becomes visible with a marker written last, and the pointer
  moves by compare-and-swap on its ETag (docs/object-store.md).

Guarantees, the same on both (the shared logic lives once, in `_base.Store`): readers never see half a
version; two writers never get the same number; a promotion re-checks the candidate against whichever champion
is current when the pointer moves (another run may have promoted one since this run's gate), and stores it as
rejected if it no longer wins; files are verified against the sha256 in `card.json` before anything is
unpickled, and the champion's card against the `card_sha256` its pointer recorded, so a card and a model edited
together are refused; with `MLOPS_STORE_HMAC_KEY` set every card is signed and a bad signature is refused
(docs/security.md); a killed publish leaves nothing visible, and its leftovers are removed later
(docs/reliability.md). A new backend implements only the primitives listed on `Store`.

`python -m mlops_pipeline.registry list|show|promote|rollback` is the command line (`_cli`).
"""

from mlops_pipeline.registry._base import Store
from mlops_pipeline.registry._cli import _cli
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
    VersionInfo,
    atomic_writer,
    card_signature,
    json_bytes,
    sha256_bytes,
    sha256_file,
    version_number,
    write_atomic,
)
from mlops_pipeline.registry._local import LOCK_FILE, STAGING_PREFIX, ModelStore
from mlops_pipeline.registry._object import CLAIM_FILE, COMMITTED_FILE, STALE_CLAIM_SECONDS, ObjectModelStore
from mlops_pipeline.registry._open import open_store

__all__ = [
    "CARD_FILE",
    "CHAMPION_FILE",
    "CLAIM_FILE",
    "COMMITTED_FILE",
    "FLOAT_MODEL_FILE",
    "HMAC_KEY_ENV",
    "INT8_MODEL_FILE",
    "LOCK_FILE",
    "PASSED",
    "REJECTED",
    "SIGNATURE_FILE",
    "STAGING_PREFIX",
    "STALE_CLAIM_SECONDS",
    "ChampionRecheck",
    "IntegrityError",
    "ModelStore",
    "ObjectModelStore",
    "Publication",
    "RegistryError",
    "Store",
    "VersionInfo",
    "_cli",
    "atomic_writer",
    "card_signature",
    "json_bytes",
    "open_store",
    "sha256_bytes",
    "sha256_file",
    "version_number",
    "write_atomic",
]
