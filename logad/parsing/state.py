"""The template state: plain JSON in, plain JSON out; drain3 snapshots only on request.

``to_state`` writes everything needed to continue mining exactly where a run stopped: the Drain
settings, the masking rules used, every cluster (template tokens, drain3 ``size``, line count,
id), the prefix tree and the cluster counter. ``from_state`` rebuilds a
:class:`~logad.parsing.miner.TemplateMiner` from it, so "mine A, save, load, mine B" equals
"mine A+B". Nothing here unpickles.

drain3 itself saves its ``Drain`` object with jsonpickle, which can build arbitrary Python
objects when loaded. :func:`to_drain3_snapshot` writes that format (for drain3 users);
:func:`from_drain3_snapshot` reads one only when the caller says the file is trusted.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, Mapping

from drain3.drain import Drain, LogCluster, Node

from logad.errors import InputError
from logad.parsing.miner import ClusterInfo, DrainSettings, TemplateMiner, template_id

__all__ = ["STATE_FORMAT", "templates_csv", "to_state", "from_state", "state_aliases", "to_drain3_snapshot",
           "from_drain3_snapshot", "is_logad_state"]

STATE_FORMAT = "logad-template-state"
_VERSION = 1


def _node_to_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node.cluster_ids:
        out["ids"] = list(node.cluster_ids)
    if node.key_to_child_node:
        out["c"] = {tok: _node_to_json(child) for tok, child in node.key_to_child_node.items()}
    return out


def _node_from_json(data: Mapping[str, Any]) -> Node:
    node = Node()
    node.cluster_ids = [int(i) for i in data.get("ids", [])]
    node.key_to_child_node = {str(tok): _node_from_json(child)
                              for tok, child in (data.get("c") or {}).items()}
    return node


def to_state(miner: TemplateMiner, *, masking: Mapping[str, Any] | None = None,
             aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Plain-JSON state of ``miner``.

    Parameters
    ----------
    miner : TemplateMiner
    masking : mapping, optional
        ``{"preset": name, "rules": [...]}`` used for the corpus (see ``rules_to_json``).
    aliases : mapping, optional
        Earlier ``old id -> new id`` entries to carry over; ids of loaded templates whose text
        changed in this run are added.

    Returns
    -------
    dict
        JSON-serialisable; ``from_state(to_state(m))`` mines exactly like ``m``.
    """
    alias = dict(aliases or {})
    clusters = []
    for cid, cluster in miner.drain.id_to_cluster.items():
        info = miner.info.get(cid, ClusterInfo(lines=cluster.size))
        text = cluster.get_template()
        tid = template_id(text)
        if info.loaded_template is not None and info.loaded_template != text:
            alias[template_id(info.loaded_template)] = tid
        clusters.append({"cluster_id": cid, "template_id": tid, "template": text,
                         "tokens": list(cluster.log_template_tokens), "size": cluster.size,
                         "lines": info.lines, "first_seen": info.first_seen})
    # resolve chains a -> b -> c so every alias points at a live id
    for old in list(alias):
        seen, new = {old}, alias[old]
        while new in alias and new not in seen:
            seen.add(new)
            new = alias[new]
        alias[old] = new
    return {"format": STATE_FORMAT, "version": _VERSION, "drain": miner.settings.to_dict(),
            "masking": dict(masking or {}), "clusters_counter": miner.drain.clusters_counter,
            "clusters": clusters, "tree": _node_to_json(miner.drain.root_node),
            "aliases": alias}


def is_logad_state(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("format") == STATE_FORMAT


def from_state(state: Mapping[str, Any], *, source: str = "template state") -> TemplateMiner:
    """Rebuild a miner from :func:`to_state` output; loaded clusters count as not new."""
    if not is_logad_state(state):
        raise InputError(f"{source}: not a logad template state (no \"format\": "
                         f"\"{STATE_FORMAT}\"). A drain3 snapshot needs --trust-drain3-snapshot.")
    if int(state.get("version", 0)) > _VERSION:
        raise InputError(f"{source}: state version {state.get('version')} is newer than this "
                         f"logad understands ({_VERSION}); upgrade logad")
    try:
        miner = TemplateMiner(DrainSettings.from_config(state["drain"]))
        drain = miner.drain
        for c in state["clusters"]:
            cluster = LogCluster(list(c["tokens"]), int(c["cluster_id"]))
            cluster.size = int(c["size"])
            drain.id_to_cluster[cluster.cluster_id] = cluster
            miner.info[cluster.cluster_id] = ClusterInfo(
                lines=int(c.get("lines", c["size"])), first_seen=c.get("first_seen"),
                created_run=False, loaded_template=cluster.get_template())
        drain.clusters_counter = int(state["clusters_counter"])
        drain.root_node = _node_from_json(state["tree"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{source}: damaged template state ({type(exc).__name__}: {exc})") from None
    return miner


def state_aliases(state: Mapping[str, Any]) -> dict[str, str]:
    return dict(state.get("aliases") or {})


def to_drain3_snapshot(miner: TemplateMiner, *, compress: bool = True) -> bytes:
    """drain3's own snapshot bytes (``FilePersistence`` format) for ``drain3.TemplateMiner``.

    ``compress`` matches drain3's ``snapshot_compress_state`` (its default is True). Each
    cluster's ``size`` is its line count.
    """
    import jsonpickle

    s = miner.settings
    drain = Drain(depth=s.depth, sim_th=s.sim_th, max_children=s.max_children,
                  extra_delimiters=s.extra_delimiters, param_str="<*>",
                  parametrize_numeric_tokens=s.parametrize_numeric_tokens)
    for cid, cluster in miner.drain.id_to_cluster.items():
        copy = LogCluster(list(cluster.log_template_tokens), cid)
        info = miner.info.get(cid)
        copy.size = info.lines if info is not None else cluster.size
        drain.id_to_cluster[cid] = copy
    drain.clusters_counter = miner.drain.clusters_counter
    drain.root_node = _node_from_json(_node_to_json(miner.drain.root_node))
    state = jsonpickle.dumps(drain, keys=True).encode("utf-8")
    return base64.b64encode(zlib.compress(state)) if compress else state


def from_drain3_snapshot(data: bytes, *, trusted: bool, source: str = "drain3 snapshot"
                         ) -> TemplateMiner:
    """Load a drain3 snapshot (jsonpickle). Refuses unless ``trusted`` is True.

    jsonpickle can construct arbitrary Python objects while loading, so only a file the user
    made (or trusts like code) may be read this way.
    """
    if not trusted:
        raise InputError(f"{source}: drain3 snapshots are jsonpickle, which can build arbitrary "
                         "objects when loaded; pass --trust-drain3-snapshot if you made this "
                         "file yourself")
    import jsonpickle

    raw = data.strip()
    if not raw.startswith(b"{"):
        try:
            raw = zlib.decompress(base64.b64decode(raw))
        except (ValueError, zlib.error) as exc:
            raise InputError(f"{source}: neither JSON nor a compressed drain3 snapshot ({exc})") from None
    try:
        loaded = jsonpickle.loads(raw.decode("utf-8"), keys=True)
    except Exception as exc:  # jsonpickle raises whatever the document makes it build
        raise InputError(f"{source}: not a drain3 snapshot ({type(exc).__name__}: {exc})") from None
    if not isinstance(loaded, Drain):
        raise InputError(f"{source}: does not hold a drain3 Drain (got {type(loaded).__name__})")
    settings = DrainSettings(depth=loaded.log_cluster_depth, sim_th=loaded.sim_th,
                             max_children=loaded.max_children,
                             extra_delimiters=tuple(loaded.extra_delimiters),
                             parametrize_numeric_tokens=loaded.parametrize_numeric_tokens)
    miner = TemplateMiner(settings)
    miner.drain.id_to_cluster = {int(k): v for k, v in loaded.id_to_cluster.items()}
    miner.drain.clusters_counter = loaded.clusters_counter
    miner.drain.root_node = loaded.root_node
    for cid, cluster in miner.drain.id_to_cluster.items():
        miner.info[cid] = ClusterInfo(lines=cluster.size, created_run=False,
                                      loaded_template=cluster.get_template())
    return miner


def templates_csv(state: Mapping[str, Any]) -> str:
    """A state's clusters as CSV text: ``template_id, template, lines, cluster_id``, one row a
    cluster in the state's order (``logad templates export`` without ``--drain3``)."""
    import csv
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["template_id", "template", "lines", "cluster_id"])
    for c in state["clusters"]:
        w.writerow([c["template_id"], c["template"], c["lines"], c["cluster_id"]])
    return buf.getvalue()
