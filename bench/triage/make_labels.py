"""Turn bench/triage/loghub_2k_look_templates.yaml into the user-label JSONL of `logad triage label`.

Every line of a loghub 2k sample whose ground-truth template (EventId of
``<S>_2k.log_structured.csv``) is listed becomes LOOK, every other line SKIP; ``line`` is the
1-based line number, so no log text is copied. BGL and Thunderbird are left out (their alert
field is ground truth).

    .venv/bin/python bench/triage/make_labels.py --out runs/triage/loghub_user_labels.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def template_labels(loghub_dir: Path, looks: dict[str, list[str]]) -> list[dict]:
    """One user-label row per line of every listed system."""
    rows = []
    for system, ids in sorted(looks.items()):
        look = set(ids or [])
        path = loghub_dir / system / f"{system}_2k.log_structured.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                lab = "LOOK" if r["EventId"] in look else "SKIP"
                rows.append({"dataset": system, "line": int(r["LineId"]), "label": lab,
                             "reason": f"template {r['EventId']} reviewed as {lab}"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loghub", default=os.path.join(os.environ.get("LOGAD_SHARED_DATA", "../shared/data"), "loghub_2k"))
    ap.add_argument("--templates", default=str(HERE / "loghub_2k_look_templates.yaml"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    looks = yaml.safe_load(Path(a.templates).read_text(encoding="utf-8"))
    rows = template_labels(Path(a.loghub), looks)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} rows, {sum(r['label'] == 'LOOK' for r in rows)} LOOK -> {a.out}")


if __name__ == "__main__":
    main()
