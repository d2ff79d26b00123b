"""Warm starts (``--init-from``): a previous model's tensors into a network whose vocabulary
grew by union (pure torch, no I/O)."""

from __future__ import annotations

from typing import Any

__all__ = ["transfer_state"]


def transfer_state(old: dict[str, Any], old_v: int, module: Any, new_v: int) -> int:
    """Copy a previous model's tensors into ``module`` whose vocabulary grew from ``old_v`` to
    ``new_v`` ids (a union: old ids kept, new ids appended, the special ids after them).

    Rows indexed by event id (embeddings: ``V + 4`` rows, output layers: ``V`` or ``V + 1`` rows) are copied
    id by id, the special rows (PAD, MASK, DIST) to their new places; tensors of an unchanged
    shape are copied as they are (not MS-CRED's event buckets, refitted on the new data). Returns the number of tensors copied.
    """
    new_state = module.state_dict()
    copied = 0
    for key, target in new_state.items():
        src = old.get(key)
        if src is None or src.dim() != target.dim() or key.endswith("bucket"):
            continue
        if src.shape == target.shape:
            target.copy_(src)
            copied += 1
            continue
        if src.shape[1:] != target.shape[1:]:
            continue
        extra = int(src.shape[0]) - old_v  # rows after the event ids: special ids or END
        if extra in (0, 1, 4) and target.shape[0] == new_v + extra:
            target[:old_v] = src[:old_v]
            target[new_v:] = src[old_v:]
        else:
            continue
        copied += 1
    module.load_state_dict(new_state)
    return copied
