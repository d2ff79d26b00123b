"""Parsing accuracy: Grouping Accuracy (GA), F1 of groups (FGA) and grouping agreement.

A *grouping* assigns each line a group key (a template id, a ground-truth event id...). With
``P`` the groups of the prediction and ``G`` those of the ground truth, a predicted group is
*correct* when it holds exactly the same lines as one ground-truth group.

* GA (Zhu et al., ICSE-SEIP 2019): share of lines that sit in a correct group.
* FGA (Jiang et al., ISSTA 2024): F1 of precision ``correct / |P|`` and recall ``correct / |G|``.
* Agreement between two parsers is GA of one against the other; it is symmetric (a group counts
  when both parsers form exactly that group), so ``agreement(a, b) == agreement(b, a)``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence

__all__ = ["grouping_accuracy", "f1_grouping_accuracy", "grouping_agreement"]


def _groups(keys: Sequence[Hashable]) -> dict[Hashable, frozenset[int]]:
    out: dict[Hashable, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        out[k].append(i)
    return {k: frozenset(v) for k, v in out.items()}


def _correct(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> tuple[int, int, int, int]:
    if len(pred) != len(truth):
        raise ValueError(f"pred has {len(pred)} lines, truth has {len(truth)}")
    p, g = _groups(pred), _groups(truth)
    truth_sets = set(g.values())
    ok_groups = [s for s in p.values() if s in truth_sets]
    return sum(len(s) for s in ok_groups), len(ok_groups), len(p), len(g)


def grouping_accuracy(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group equals a ground-truth group.

    Examples
    --------
    >>> grouping_accuracy(["a", "a", "b"], [1, 1, 2])
    1.0
    >>> round(grouping_accuracy(["a", "a", "a"], [1, 1, 2]), 3)
    0.0
    """
    if not pred:
        return 1.0
    lines, _, _, _ = _correct(pred, truth)
    return lines / len(pred)


def f1_grouping_accuracy(pred: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """F1 of correct groups: precision over predicted groups, recall over true groups."""
    if not pred:
        return 1.0
    _, ok, n_pred, n_true = _correct(pred, truth)
    if ok == 0:
        return 0.0
    precision, recall = ok / n_pred, ok / n_true
    return 2 * precision * recall / (precision + recall)


def grouping_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Share of lines grouped identically by two parsers (symmetric GA)."""
    return grouping_accuracy(a, b)
