"""Project exceptions: each names the argument or file, its value and what was expected."""


class ProjectError(ValueError):
    """Base class for input errors raised by the helpers package."""


class DatasetError(ProjectError):
    """A dataset tree, manifest or file name is not what was expected."""


class AudioError(ProjectError):
    """An audio file cannot be used: empty, truncated, corrupt, silent or too short."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # Rebuilt from (path, reason) when it crosses a process boundary (worker pools).
        return type(self), (self.path, self.reason)


class ConfigError(ProjectError):
    """A parameter is outside the range the function accepts."""


class TrainingError(ProjectError):
    """Training inputs or settings are not what the function accepts (:mod:`helpers.training`),
    or a saved model is not (:mod:`helpers.model_files`)."""


class OutputError(ProjectError):
    """A result cannot be written: its folder is not writable, not a folder, or the disk is full.

    The message names the path; what was already written there is left as it was.
    """


def check_int(value, *, name: str, minimum: int, error: type[ProjectError] = ConfigError) -> int:
    """Return ``value`` as an int, or raise ``error`` naming ``name`` unless it is an integer
    (not a bool) of at least ``minimum``."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(f"{name}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise error(f"{name}={value} must be >= {minimum}")
    return int(value)


def is_int(value, *, minimum: float = float("-inf")) -> bool:
    """Whether :func:`check_int` accepts ``value`` with this ``minimum``: for a check that
    raises its own message (an element of a sequence, a value with an upper bound too)."""
    try:
        check_int(value, name="value", minimum=minimum)
    except ProjectError:
        return False
    return True
