"""The one declared schema of a stage's ``manifest.json``, checked when written and when read.

A stage writes its outputs first and its manifest last (the commit point, DESIGN rule 4). Every
manifest carries the fields of :class:`Manifest`; a stage adds its own beside them (they are
kept as they are: the JSON a stage writes is the dict it built, only checked here). Other
stages read a manifest through :func:`read_manifest`, as a :class:`Manifest`, never by bare
keys of a dict.

>>> m = Manifest.model_validate({"stage": "parse", "status": "complete",
...                               "counts": {"read": 5, "processed": 4, "rejected": 1}})
>>> m.counts.read, m.preset
(5, None)
>>> Manifest.model_validate({"stage": "parse", "counts": {"read": 5, "processed": 5, "rejected": 1}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Manifest
...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from logad.io.atomic import read_json, write_json
from logad.io.store import Store, run_of

__all__ = ["Manifest", "Counts", "PartEntry", "ScoredModel", "write_manifest", "read_manifest",
           "parse_manifest", "check_manifest", "commit", "ManifestError"]


class ManifestError(ValueError):
    """A manifest that does not fit :class:`Manifest` (the message names the file and field)."""


class PartEntry(BaseModel):
    """One part of a stage folder: its file relative to the folder and its row count."""

    model_config = ConfigDict(extra="forbid")

    file: str
    rows: int = Field(ge=0)


class Counts(BaseModel):
    """What a stage read and what became of it: ``read = processed + rejected`` always (DESIGN
    rule 3). Stages add their own counts beside these (parse: ``parsed``, ``templates``...)."""

    model_config = ConfigDict(extra="allow")

    read: int = Field(ge=0)
    processed: int = Field(ge=0)
    rejected: int = Field(ge=0)

    @model_validator(mode="after")
    def _accounted(self) -> "Counts":
        if self.read != self.processed + self.rejected:
            raise ValueError(f"read ({self.read}) != processed ({self.processed}) + rejected "
                             f"({self.rejected})")
        return self


class ScoredModel(BaseModel):
    """One model of a ``logad score`` run (its manifest's ``models``)."""

    model_config = ConfigDict(extra="allow")

    model: str
    model_dir: str


class Manifest(BaseModel):
    """The fields every stage's ``manifest.json`` may carry; a stage's own fields are kept as
    extras.

    ``stage`` (``"ingest"``, ``"parse"``...), ``status`` (``"complete"`` once written),
    ``logad_version``, ``inputs`` (what it read), ``run_key`` (its skip key), ``counts``,
    ``seconds`` (per phase, or in all), ``workers`` (how many, or a summary), ``peak_rss_mb``,
    ``settings_file`` (the resolved settings written beside the outputs, relative to the
    folder) and ``parts`` (the output parts). ``run``: on object storage, the run's prefix
    (``_runs/<id>``) that holds every file of the run (:mod:`logad.io.store`). ``preset`` (ingest) and ``input`` (sessionize:
    the parsed folder) are read by later stages.
    """

    model_config = ConfigDict(extra="allow")

    stage: str
    status: str = "complete"
    logad_version: str | None = None
    inputs: list[str] = Field(default_factory=list)
    run_key: str | None = None
    counts: Counts | None = None
    seconds: Union[float, dict[str, float], None] = None
    workers: Union[int, dict[str, Any], None] = None
    peak_rss_mb: float | None = None
    settings_file: str | None = None
    parts: list[Union[PartEntry, str]] | None = None
    preset: str | None = None
    input: str | None = None
    models: list[ScoredModel] | None = None
    model_dir: str | None = None
    run: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
                     for e in exc.errors())


def parse_manifest(doc: Any, where: str | os.PathLike) -> Manifest:
    """``doc`` (a manifest as read from JSON) as a :class:`Manifest`.

    Raises
    ------
    ManifestError
        Not an object, or a field of the wrong type (the message names ``where`` and the field).
    """
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: not a logad manifest")
    try:
        return Manifest.model_validate(doc)
    except ValidationError as exc:
        raise ManifestError(f"{where}: not a logad manifest ({_problems(exc)})") from None


def check_manifest(doc: dict[str, Any], where: str | os.PathLike) -> None:
    """Raise :class:`ManifestError` when ``doc``, about to be written to ``where``, does not
    fit :class:`Manifest` (a bug in the stage, not bad input)."""
    try:
        Manifest.model_validate(doc)
    except ValidationError as exc:
        raise ManifestError(f"{where}: manifest of stage {doc.get('stage')!r} does not fit the "
                            f"schema ({_problems(exc)})") from None


def write_manifest(doc: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """Check ``doc`` against :class:`Manifest` and write it atomically as JSON (as given: the
    fields a stage adds stay where it put them). Returns ``doc``.

    Raises
    ------
    ManifestError
        ``doc`` does not fit the schema (a bug in the stage, not bad input).
    """
    check_manifest(doc, path)
    write_json(doc, path)
    return doc


def read_manifest(path: str | os.PathLike) -> Manifest:
    """``path`` read as a :class:`Manifest`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ManifestError
        Not JSON, not an object, or a field of the wrong type (the message names the file and
        the field).
    """
    try:
        doc = read_json(Path(path))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc})") from None
    return parse_manifest(doc, path)


def commit(store: Store, doc: dict[str, Any], run: str) -> dict[str, Any]:
    """Write ``doc`` (a manifest naming the files of ``run``, a prefix of ``store``) as its
    ``manifest.json``, with ``run`` added: the commit point on object storage
    (:mod:`logad.io.store`). Then delete every run prefix it does not name: the previous run's
    and those of killed runs. Returns the manifest written.

    Raises
    ------
    ManifestError
        ``doc`` does not fit the schema (a bug in the stage, not bad input).
    """
    doc = {**doc, "run": run}
    check_manifest(doc, store.url_of("manifest.json"))
    store.write_json("manifest.json", doc)
    keep = {run} | {run_of(p["file"] if isinstance(p, dict) else str(p))
                    for p in doc.get("parts") or []}
    for prefix in store.runs():
        if prefix not in keep:
            store.remove(prefix)
    return doc
