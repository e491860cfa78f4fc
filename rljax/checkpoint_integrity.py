"""What a checkpoint is checked against: leaf paths, per-leaf digests, saved-vs-expected leaves.

Pure functions over pytrees and Orbax's per-leaf metadata, no file access (:mod:`rljax.checkpoint`
reads and writes the checkpoints and raises on what these report):

- :func:`named_leaves`: ``{"state/params/w": leaf}``, one path name whether a node is a
  dataclass, a dict (as Orbax restores it) or a sequence, so saved and expected trees line up.
- :func:`leaf_digests` / :func:`digest_mismatches`: SHA-256 per leaf over dtype, shape and
  bytes, and the leaves whose digests differ.
- :func:`structure_differences`: one line per leaf whose saved path, shape or dtype differs
  from the target's (``"state/params/w: saved float32[64,4], expected float32[32,4]"``);
  :func:`abstract_target`: the target as ``ShapeDtypeStruct``s for Orbax to read into.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import numpy as np


def path_name(path: tuple[Any, ...]) -> str:
    """``"state/params/w"`` for a key path, the same whether a node is a dataclass (attribute
    keys), a dict (as Orbax restores it) or a sequence."""
    parts = []
    for entry in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def named_leaves(tree: Any) -> dict[str, Any]:
    """``{path name: leaf}`` over the leaves of ``tree`` (``None`` and empty nodes have none)."""
    return {path_name(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def leaf_digest(x: Any) -> str:
    """SHA-256 (hex) of a leaf's dtype, shape and C-order bytes."""
    array = np.ascontiguousarray(np.asarray(x))
    h = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode())
    h.update(array.tobytes())
    return h.hexdigest()


def leaf_digests(tree: Any) -> dict[str, str]:
    """``{leaf path: SHA-256 hex}`` of a host tree of arrays (typed keys already as key data)."""
    return {name: leaf_digest(x) for name, x in named_leaves(tree).items()}


def digest_mismatches(actual: dict[str, str], saved: dict[str, str]) -> list[str]:
    """Sorted leaf paths whose digest in ``actual`` differs from ``saved`` (or is in one only)."""
    return sorted(name for name in set(actual) | set(saved) if actual.get(name) != saved.get(name))


def describe_leaf(shape: tuple[int, ...], dtype: Any) -> str:
    """``"float32[64,4]"``: a leaf's dtype and shape as error messages name them."""
    return f"{np.dtype(dtype).name}[{','.join(str(int(s)) for s in shape)}]"


def expected_leaf(x: Any) -> tuple[tuple[int, ...], np.dtype, bool]:
    """``(shape, dtype, is_python_scalar)`` of a target leaf."""
    if isinstance(x, bool | int | float | complex) and not isinstance(x, np.generic):
        return (), np.asarray(x).dtype, True
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    return tuple(np.shape(x)), np.dtype(dtype), False


def structure_differences(saved: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """One line per leaf path where the saved metadata and the target disagree.

    A Python scalar in the target accepts a saved scalar of the same kind (integer, float, bool):
    it is restored with the saved dtype.
    """
    lines = []
    for name in sorted(set(saved) | set(target)):
        if name not in target:
            meta = saved[name]
            lines.append(f"{name}: saved {describe_leaf(meta.shape, meta.dtype)}, not expected")
            continue
        shape, dtype, scalar = expected_leaf(target[name])
        if name not in saved:
            lines.append(f"{name}: expected {describe_leaf(shape, dtype)}, not in the checkpoint")
            continue
        meta = saved[name]
        saved_shape, saved_dtype = tuple(meta.shape), np.dtype(meta.dtype)
        if scalar:
            same_dtype = saved_dtype.kind == dtype.kind or {saved_dtype.kind, dtype.kind} <= {
                "i",
                "u",
            }
        else:
            same_dtype = saved_dtype == dtype
        if saved_shape != shape or not same_dtype:
            lines.append(
                f"{name}: saved {describe_leaf(saved_shape, saved_dtype)}, "
                f"expected {describe_leaf(shape, dtype)}"
            )
    return lines


def abstract_target(target_data: Any, saved: dict[str, Any]) -> Any:
    """The target as ``ShapeDtypeStruct``s for Orbax; Python scalars take the saved dtype."""

    def abstract(path, x):
        shape, dtype, scalar = expected_leaf(x)
        if scalar:
            dtype = np.dtype(saved[path_name(path)].dtype)
        return jax.ShapeDtypeStruct(shape, dtype)

    return jax.tree_util.tree_map_with_path(abstract, target_data)
