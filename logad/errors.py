"""Errors the library raises on purpose: the CLI turns each into one line on stderr."""

__all__ = ["LogadError", "InputError", "ConfigError", "ModelError", "WorkerLost"]


class LogadError(Exception):
    """Base class: a problem a user can fix; the message says how."""

    exit_code = 1


class InputError(LogadError):
    """Missing paths, unreadable files, input tables without the columns a stage needs."""

    exit_code = 2


class ConfigError(LogadError):
    """A config file or flag that does not validate."""

    exit_code = 2


class ModelError(LogadError):
    """A model folder that is missing, unknown or unsafe to load."""

    exit_code = 3


class WorkerLost(LogadError):
    """A stage's workers died (their node or process) and the work could not be redone."""

    exit_code = 1
