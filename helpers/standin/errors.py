"""The stand-in's one exception, shared by its eSpeak binding, speech, noise and tree modules."""

from __future__ import annotations

from helpers.errors import ProjectError


class CorpusError(ProjectError):
    """The stand-in corpus cannot be generated or a synthesis argument is out of range."""
