"""The code version behind cache keys and model cards covers every module, those inside subpackages too."""

from __future__ import annotations

from mlops_pipeline.caching import source_files


def test_source_files_include_modules_of_subpackages() -> None:
    names = [name for name, _ in source_files("mlops_pipeline")]
    assert "mlops_pipeline/caching.py" in names
    assert "mlops_pipeline/config/loading.py" in names  # an edit here must change the code version
    assert names == sorted(names)  # a stable order: the same code gives the same version
