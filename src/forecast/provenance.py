"""Provenance fingerprints: canonical JSON, hashes of objects and of files, package versions.

Light on purpose (standard library only), so that loading a model or a ledger does not import
the inference stack.
"""

from __future__ import annotations

import hashlib
import json
import os

__all__ = ["canonical_json", "file_sha256", "package_versions", "stable_hash"]


def _plain(x: object) -> object:
    if type(x).__module__ == "numpy":  # an ndarray or a numpy scalar (numpy not imported here)
        return x.tolist()  # type: ignore[attr-defined]
    return str(x)


def canonical_json(obj: object) -> str:
    """JSON text with sorted keys (arrays as lists): stable input for hashes and attributes."""
    return json.dumps(obj, sort_keys=True, default=_plain, separators=(",", ":"))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes: the provenance fingerprint of models, ledgers and run files."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def stable_hash(obj: object) -> str:
    """SHA-256 of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    """The versions of the packages a forecast's numbers depend on, for its provenance."""
    import importlib.metadata

    return {pkg: importlib.metadata.version(pkg)
            for pkg in ("forecast", "numpy", "arviz", "xarray", "pandas")}
