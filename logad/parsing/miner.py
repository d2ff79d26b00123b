"""The mining core: drain3's own :class:`drain3.drain.Drain`, with content-hash template ids.

:class:`TemplateMiner` wraps one ``Drain`` (same prefix tree, similarity, depth, max_children and
``parametrize_numeric_tokens`` semantics as drain3) and adds what logad needs on top:

* template ids are BLAKE2b hashes of the final template text (:func:`template_id`), so they do
  not depend on arrival order, block count or worker count; identical texts share an id;
* line counts per cluster (drain3's ``size`` counts messages added, which here are *distinct*
  masked messages) and the first occurrence (``order``) of each cluster;
* ``match`` never changes the model (``--match-only``);
* a message identical to an existing template joins it (see :meth:`TemplateMiner.add`).

No I/O here: :mod:`logad.parsing.state` turns a miner into plain JSON and back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from drain3.drain import Drain, LogCluster

from logad.errors import ConfigError
from logad.schema import TEMPLATE_ID_HEX

__all__ = ["DrainSettings", "TemplateMiner", "template_id"]


def template_id(template: str) -> str:
    """Stable id of a template text: the first ``TEMPLATE_ID_HEX`` hex digits of BLAKE2b.

    Examples
    --------
    >>> len(template_id("Receiving block <*> src: <*> dest: <*>"))
    16
    >>> template_id("a <*>") == template_id("a <*>")
    True
    """
    return hashlib.blake2b(template.encode("utf-8"), digest_size=TEMPLATE_ID_HEX // 2).hexdigest()


@dataclass(frozen=True)
class DrainSettings:
    """Drain parameters (drain3's names without the ``drain_`` prefix).

    Parameters
    ----------
    depth : int, default 4
        Depth of the prefix tree, at least 3 (drain3's ``depth``).
    sim_th : float, default 0.9
        Similarity threshold in [0, 1]: share of a template's non-wildcard tokens a message must
        equal to join it.
    max_children : int, default 100
        Maximum children of an inner tree node.
    extra_delimiters : tuple of str, default ()
        Characters split on in addition to whitespace.
    parametrize_numeric_tokens : bool, default True
        Tokens with a digit go down the wildcard branch of the tree.
    """

    depth: int = 4
    sim_th: float = 0.9
    max_children: int = 100
    extra_delimiters: tuple[str, ...] = ()
    parametrize_numeric_tokens: bool = True

    @classmethod
    def from_config(cls, cfg: dict | None) -> "DrainSettings":
        """Build from the ``drain`` section of ``configs/parse.yaml``; checks every value."""
        cfg = dict(cfg or {})
        unknown = set(cfg) - {"depth", "sim_th", "max_children", "extra_delimiters",
                              "parametrize_numeric_tokens"}
        if unknown:
            raise ConfigError(f"drain: unknown setting(s) {sorted(unknown)}")
        s = cls(depth=int(cfg.get("depth", 4)), sim_th=float(cfg.get("sim_th", 0.9)),
                max_children=int(cfg.get("max_children", 100)),
                extra_delimiters=tuple(cfg.get("extra_delimiters") or ()),
                parametrize_numeric_tokens=bool(cfg.get("parametrize_numeric_tokens", True)))
        if s.depth < 3:
            raise ConfigError(f"drain.depth must be at least 3, got {s.depth}")
        if not 0.0 <= s.sim_th <= 1.0:
            raise ConfigError(f"drain.sim_th must be in [0, 1], got {s.sim_th}")
        if s.max_children < 2:
            raise ConfigError(f"drain.max_children must be at least 2, got {s.max_children}")
        return s

    def to_dict(self) -> dict:
        return {"depth": self.depth, "sim_th": self.sim_th, "max_children": self.max_children,
                "extra_delimiters": list(self.extra_delimiters),
                "parametrize_numeric_tokens": self.parametrize_numeric_tokens}


@dataclass
class ClusterInfo:
    """What logad tracks per Drain cluster beside drain3's own fields."""

    lines: int = 0                 # lines assigned (all runs)
    first_seen: int | None = None  # smallest ``order`` of a line, in the run that created it
    created_run: bool = True       # created by this miner's current run (not loaded)
    loaded_template: str | None = None  # template text when loaded from a saved state


@dataclass
class TemplateMiner:
    """Drain mining with content-hash ids.

    Parameters
    ----------
    settings : DrainSettings
        Drain parameters.

    Examples
    --------
    >>> m = TemplateMiner(DrainSettings(sim_th=0.5))
    >>> a = m.add("open file <*> for user bob")
    >>> b = m.add("open file <*> for user eve")
    >>> a == b, m.template(a)
    (True, 'open file <*> for user <*>')
    """

    settings: DrainSettings = field(default_factory=DrainSettings)

    def __post_init__(self) -> None:
        s = self.settings
        self.drain = Drain(depth=s.depth, sim_th=s.sim_th, max_children=s.max_children,
                           extra_delimiters=s.extra_delimiters, param_str="<*>",
                           parametrize_numeric_tokens=s.parametrize_numeric_tokens)
        self.info: dict[int, ClusterInfo] = {}

    # -- learning ------------------------------------------------------------------------------
    def add(self, message: str, lines: int = 1, order: int | None = None) -> int:
        """Mine one masked message (``lines`` copies of it, first at ``order``); return its cluster id.

        A message whose tokens equal an existing template exactly joins that cluster without a
        Drain step. (drain3 counts ``<*>`` positions as mismatches, so with a high ``sim_th`` it
        would open a second cluster with the same text; the template id, a hash of the text, is
        the same either way, but the state would grow with every run over similar data.)
        """
        tokens = self.drain.get_content_as_tokens(message)
        cluster = self.drain.tree_search(self.drain.root_node, tokens, 1.0, True)
        if cluster is not None and list(cluster.log_template_tokens) == tokens:
            cluster.size += 1  # the message *is* this template: join it, change nothing
        else:
            cluster, _ = self.drain.add_log_message(message)
        info = self.info.get(cluster.cluster_id)
        if info is None:
            info = self.info[cluster.cluster_id] = ClusterInfo(first_seen=order)
        info.lines += lines
        if order is not None and (info.first_seen is None or order < info.first_seen):
            info.first_seen = order
        return cluster.cluster_id

    def add_many(self, messages: Iterable[str], lines: Iterable[int] | None = None,
                 orders: Iterable[int] | None = None) -> list[int]:
        """Mine messages in the given order; return one cluster id per message."""
        messages = list(messages)
        lines = [1] * len(messages) if lines is None else list(lines)
        orders = [None] * len(messages) if orders is None else list(orders)
        return [self.add(m, n, o) for m, n, o in zip(messages, lines, orders)]

    # -- read-only -----------------------------------------------------------------------------
    def match(self, message: str, full_search_strategy: str = "fallback") -> int | None:
        """Cluster id of an exact template match (drain3 ``match``), or None; changes nothing."""
        cluster = self.drain.match(message, full_search_strategy=full_search_strategy)
        return None if cluster is None else cluster.cluster_id

    def cluster(self, cluster_id: int) -> LogCluster:
        return self.drain.id_to_cluster[cluster_id]

    def template(self, cluster_id: int) -> str:
        """Current template text of a cluster."""
        return self.cluster(cluster_id).get_template()

    def template_id_of(self, cluster_id: int) -> str:
        """Content-hash id of the cluster's current template."""
        return template_id(self.template(cluster_id))

    def ids_for(self, cluster_ids: Sequence[int | None], unknown: str) -> list[str]:
        """Template ids for many cluster ids (None -> ``unknown``), hashing each template once."""
        cache: dict[int, str] = {}
        out = []
        for cid in cluster_ids:
            if cid is None:
                out.append(unknown)
                continue
            tid = cache.get(cid)
            if tid is None:
                tid = cache[cid] = self.template_id_of(cid)
            out.append(tid)
        return out

    @property
    def cluster_ids(self) -> list[int]:
        return list(self.drain.id_to_cluster.keys())

    def __len__(self) -> int:
        return len(self.drain.id_to_cluster)
