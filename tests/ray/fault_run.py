"""Run ingest + parse on a multi-node Ray cluster on this machine, killing a worker node mid-way.

Run by tests/ray/test_faults.py in its own process (``python -m tests.ray.fault_run CORPUS OUT
PHASE``) so the cluster never meets the suite's Ray session. ``RAY_TMPDIR`` must name a private
folder: ``ray.cluster_utils.Cluster`` records its address in ``$RAY_TMPDIR/ray/ray_current_cluster``,
where any ``ray.init()`` on the machine would otherwise find it.

PHASE: ``ingest`` kills the node when the first ingest unit is recorded, ``parse`` when the first
parse spill file appears (pass 1), ``parse2`` when the first parsed part is written (pass 2),
``sessionize`` when the first keyed spill file appears (then sessionize runs after parse),
``score`` when the first staged score part appears (then sessionize, train and score run),
``none`` kills nothing; the node killed is one that holds a worker of that stage. Three worker nodes of 1 CPU, pools of two actors: the spare node takes the restarted
actor, as a replacement node from an autoscaler would.
Prints one JSON line: what was killed and when.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


def main(corpus: str, out: str, phase: str) -> None:
    import ray
    from ray.cluster_utils import Cluster

    assert os.environ.get("RAY_TMPDIR"), "set RAY_TMPDIR to a private folder"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            "object_store_memory": 100 << 20})
    nodes = [cluster.add_node(num_cpus=1, object_store_memory=100 << 20) for _ in range(3)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    from logad.ray.ingest import run_ingest
    from logad.ray.parse import run_parse

    outp = Path(out)
    watch = {"ingest": (outp / "events" / "_units", "*.json"), "parse": (outp / "parsed" / "_spill", "*"),
             "parse2": (outp / "parsed", ".events.*.tmp/part-*"),
             "sessionize": (outp / "sessions" / "_spill", "keyed-*"),
             "score": (outp, ".scores.*.tmp/.staging/*")}
    worker_class = {"ingest": "IngestWorker", "parse": "ParseWorker", "parse2": "ParseWorker",
                    "sessionize": "SessionizeWorker", "score": "ScoreWorker"}
    event: dict = {"phase": phase, "killed_at": None}

    stop = threading.Event()
    victim: list = [None]  # the node of a live worker of the stage, kept current by lookup()

    def lookup() -> None:
        # apart from the file watch: the lookup takes a while on a busy machine, and a short
        # stage (score) could start and end between two lookups
        while not stop.is_set():
            busy = {a["Address"]["NodeID"] for a in ray._private.state.actors().values()
                    if a["State"] == "ALIVE" and a["ActorClassName"] == worker_class[phase]}
            victim[0] = next((n for n in nodes if n.node_id in busy), None)
            stop.wait(0.02)

    def killer() -> None:
        folder, pattern = watch[phase]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120 and not stop.is_set():
            node = victim[0]
            if node is not None and folder.exists() and any(folder.glob(pattern)):
                cluster.remove_node(node, allow_graceful=False)
                event["killed_at"] = round(time.monotonic() - t0, 2)
                event["killed_node_had_actor"] = worker_class[phase]
                stop.set()
                return
            time.sleep(0.005)

    threads = []
    if phase != "none":
        threads = [threading.Thread(target=f, daemon=True) for f in (lookup, killer)]
        for t in threads:
            t.start()
    cfg = {"preset": "OpenStack", "chunk_bytes": 64 << 10, "workers": 2, "in_process_below_bytes": 0}
    run_ingest([corpus], outp / "events", cfg)
    run_parse(outp / "events", outp / "parsed", cfg={"workers": 2, "in_process_below": 0})
    if phase in ("sessionize", "score"):
        run_later_stages(outp, workers=2)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    print("FAULT_EVENT " + json.dumps(event), flush=True)
    ray.shutdown()
    cluster.shutdown()


def run_later_stages(out: Path, workers: int) -> None:
    """Sessionize, train and score on Ray (never in-process), as the fault tests compare them."""
    from logad.ray.score import run_score
    from logad.ray.sessionize import run_sessionize
    from logad.ray.train import run_train

    run_sessionize(out / "parsed", out / "sessions",
                   cfg={"by": "instance", "workers": workers, "ray": {"in_process_below": 0}})
    run_train("sequence_if_counts", out / "sessions", out / "model")  # no labels here
    # small rank buckets: the split and rank passes give the faulted run more than a moment
    # with staged parts (the sessions are two row groups: two score units)
    run_score([out / "model"], out / "sessions", out / "scores",
              {"workers": workers, "batch_size": 20, "local_below": 0, "rows_per_bucket": 10})


if __name__ == "__main__":
    main(*sys.argv[1:4])
