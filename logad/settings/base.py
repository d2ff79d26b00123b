"""How a stage's settings are resolved, once: the one place configs become a validated object.

Layers, later wins: ``configs/<stage>.yaml`` → ``--config FILE`` (a path or a name under
``configs/``) → values a caller passes (a pipeline section, a test's dict) → CLI flags and
``--set KEY=VALUE`` / ``--param`` overrides (dotted keys, the same mechanism) → one pydantic
model with ``extra="forbid"``. Every problem becomes a :class:`~logad.errors.ConfigError`
naming the key by its dotted path, the file that set it, and what is allowed (an unknown key
gets the nearest valid one); pydantic's own text never reaches a user.

The skip key of every stage is :func:`stage_key`: the inputs' identity, the whole resolved
settings (``model_dump``, sorted JSON) and logad's version.
"""

from __future__ import annotations

import copy
import difflib
import os
from typing import Any, ClassVar, Iterable, Mapping, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from logad import config as _config
from logad.errors import ConfigError

__all__ = ["Settings", "Section", "resolve", "coerce", "dotted_overrides", "stage_key",
           "settings_dump"]

S = TypeVar("S", bound="Settings")

#: Keys renamed when the settings got one meaning for ``workers`` (the hint an old config gets).
RENAMED = {"max_workers": "workers", "actors": "workers", "ray.workers": "workers",
           "ray.num_cpus": "the --num-cpus flag (a runtime option, not a stage setting)",
           "num_cpus": "the --num-cpus flag (a runtime option, not a stage setting)",
           "torch.workers": "workers"}


class Section(BaseModel):
    """A nested settings section: unknown keys are errors, values are not coerced from strings."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Settings(Section):
    """One stage's resolved settings; ``stage`` names its ``configs/<stage>.yaml``."""

    stage: ClassVar[str] = ""

    @classmethod
    def base_layers(cls) -> list[tuple[str, dict[str, Any]]]:
        """Layers under ``configs/<stage>.yaml`` (e.g. train's threshold from models.yaml)."""
        return []

    def dump(self) -> dict[str, Any]:
        """Plain JSON-able dict of every setting (what is written next to the outputs)."""
        return self.model_dump(mode="json")


def _nest(dotted: Mapping[str, Any], *, skip_none: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in dotted.items():
        if val is not None or not skip_none:
            _config.set_dotted(out, str(key), val)
    return out


def dotted_overrides(pairs: Iterable[str] | None, prefix: str = "", flag: str = "--set") -> dict[str, Any]:
    """``["drain.sim_th=0.5", "spill=false"]`` as ``{"drain.sim_th": 0.5, "spill": False}``.

    Values are read as YAML (numbers, booleans, lists, null); ``prefix`` goes before each key
    (``--param n_estimators=50`` is ``params.n_estimators``).
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, val = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[prefix + key.strip()] = yaml.safe_load(val)
        except yaml.YAMLError:
            out[prefix + key.strip()] = val
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    return _config.deep_merge(base, over)


def _has(doc: Any, path: Sequence[str]) -> bool:
    for part in path:
        if not isinstance(doc, Mapping) or part not in doc:
            return False
        doc = doc[part]
    return True


def _sub_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _sub_model(arg)
        if found is not None:
            return found
    return None


_TAGS = ("int", "str", "float", "bool", "list", "dict", "none", "tuple")


def _walk(model: type[BaseModel], loc: Sequence[Any], extra: bool) -> tuple[list[str], type[BaseModel] | None]:
    """The user-facing path of an error location (pydantic's union tags dropped) and the model
    holding its last key; ``extra``: the last part is a key the model refused."""
    path: list[str] = []
    current: type[BaseModel] | None = model
    holder: type[BaseModel] | None = model
    for part in (loc[:-1] if extra else loc):
        if current is not None:
            if isinstance(part, str) and part in current.model_fields:
                path.append(part)
                holder, current = current, _sub_model(current.model_fields[part].annotation)
            # else: a union member's tag (int, literal[...], a model's name): not a key
        elif not (isinstance(part, str) and ("[" in part or part in _TAGS)):
            path.append(str(part))
    if extra:
        path.append(str(loc[-1]))
        holder = current
    return path, holder


def _allowed(msg: str) -> str:
    msg = msg.replace("Value error, ", "").replace("Assertion failed, ", "")
    msg = msg.replace("Input should be", "expected")
    return msg


def _problems(model: type[Settings], exc: ValidationError, layers: list[tuple[str, Any]]) -> list[str]:
    grouped: dict[str, dict[str, Any]] = {}
    for err in exc.errors(include_url=False):
        path, holder = _walk(model, err["loc"], err["type"] == "extra_forbidden")
        dotted = ".".join(path)
        where = next((name for name, doc in reversed(layers) if path and _has(doc, path)), None)
        entry = grouped.setdefault(dotted, {"msgs": [], "where": where, "err": err,
                                            "holder": holder, "path": path})
        entry["msgs"].append(_allowed(str(err["msg"])))
    problems = []
    for dotted, entry in grouped.items():
        err, path, holder = entry["err"], entry["path"], entry["holder"]
        src = f" (in {entry['where']})" if entry["where"] else ""
        if err["type"] == "extra_forbidden":
            valid = sorted(holder.model_fields) if holder is not None else []
            near = RENAMED.get(dotted) or RENAMED.get(path[-1])
            if near is None:
                close = difflib.get_close_matches(path[-1], valid, n=1, cutoff=0.6)
                near = ".".join([*path[:-1], close[0]]) if close else None
            hint = f"; did you mean {near}?" if near else ""
            where = ".".join(path[:-1])
            problems.append(f"unknown key {dotted!r}{src}{hint} (valid keys{' of ' + where if where else ''}: "
                            f"{', '.join(valid)})")
        elif err["type"] == "missing":
            problems.append(f"{dotted} is missing{src}")
        elif not dotted:
            problems.append("; ".join(dict.fromkeys(entry["msgs"])))
        else:
            msgs = " or ".join(dict.fromkeys(m.removeprefix("expected ") if i else m
                                             for i, m in enumerate(entry["msgs"])))
            value = err.get("input")
            shown = "" if isinstance(value, Mapping) else f" = {value!r}"
            problems.append(f"{dotted}{shown}{src}: {msgs}")
    return problems


def _validate(model: type[S], doc: dict[str, Any], layers: list[tuple[str, Any]], what: str) -> S:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"{what}: " + "; ".join(_problems(model, exc, layers))) from None


def resolve(model: type[S], config: str | os.PathLike | None = None, *,
            values: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
            sets: Iterable[str] | None = None, base: bool = True, what: str | None = None) -> S:
    """Resolve a stage's settings: ``configs/<stage>.yaml`` → ``config`` → ``values`` → ``flags``
    (dotted keys; ``None`` means "not given") → ``sets`` (``KEY=VALUE`` strings).

    Parameters
    ----------
    model : type of Settings
        The stage's model (its ``stage`` names the base file).
    config : path or name, optional
        A YAML file or a name under ``configs/`` (``--config``).
    values : mapping, optional
        Nested settings from a program (a pipeline section); ``None`` values are kept.
    flags : mapping, optional
        Dotted keys from CLI flags; ``None`` values are skipped.
    sets : iterable of str, optional
        ``--set KEY=VALUE`` strings.
    base : bool
        Start from ``configs/<stage>.yaml`` (False: only what is given, for tests).

    Returns
    -------
    Settings
        The validated object; raises :class:`~logad.errors.ConfigError` otherwise.

    Examples
    --------
    >>> from logad.settings import ParseSettings
    >>> resolve(ParseSettings, flags={"drain.sim_th": 0.5}).drain.sim_th
    0.5
    """
    layers: list[tuple[str, Any]] = []
    if base:
        layers += model.base_layers()
        if model.stage:
            layers.append((f"configs/{model.stage}.yaml", _config.load_yaml(model.stage)))
    if config:
        layers.append((str(_config.config_path(config)), _config.load_yaml(config)))
    if values:
        layers.append(("the settings given", copy.deepcopy(dict(values))))
    if flags:
        layers.append(("the command's flags", _nest(flags, skip_none=True)))
    if sets:
        layers.append(("--set", _nest(dotted_overrides(sets), skip_none=False)))
    doc: dict[str, Any] = {}
    for _, layer in layers:
        doc = _merge(doc, layer)
    return _validate(model, doc, layers, what or f"{model.stage or model.__name__} settings")


def coerce(model: type[S], cfg: S | Mapping[str, Any] | None) -> S:
    """What a runner does with its ``cfg``: a settings object as it is; a mapping (or None) as
    the values layer over ``configs/<stage>.yaml``, validated now."""
    if isinstance(cfg, model):
        return cfg
    if isinstance(cfg, Settings):
        raise ConfigError(f"{model.stage} runner got {type(cfg).__name__}, expected {model.__name__}")
    return resolve(model, values=cfg or None)


def settings_dump(settings: Settings | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON dict of a settings object (a mapping is copied as it is)."""
    return settings.dump() if isinstance(settings, Settings) else copy.deepcopy(dict(settings))


def stage_key(inputs: Sequence[str | os.PathLike], settings: Settings | Mapping[str, Any],
              *identity: Any) -> str:
    """The skip key of a stage: its input files (name, size, mtime) and any other ``identity``
    of what it reads (a state's digest, a unit's byte range), the whole resolved settings and
    logad's version (:func:`logad.io.run_key`). Equal keys: the finished output is reused."""
    from logad.io import run_key

    return run_key(list(inputs), settings_dump(settings), *identity)
