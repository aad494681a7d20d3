"""What every notebook does first: pick the data, apply the profile, load the features.

A notebook's parameters (``PROFILE``, ``RAVDESS_DIR``, ``NOISE_DIR``, ``NOISE_FOLDS``,
``FORCE``) go in; the clip manifest, the noise table and the cached log-mels of the five
variants come out. Because features are cached by content, a later notebook calling
:func:`load_cached_run` with the same parameters reads the files notebook 02 wrote.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import pandas as pd

from helpers import augment, config, datasets, features, io, splits
from helpers.errors import ConfigError


@dataclasses.dataclass
class RunData:
    """The data of one run.

    Attributes
    ----------
    manifest : pd.DataFrame
        Every speech clip found (1440 for a complete RAVDESS).
    clips : pd.DataFrame
        The clips this profile uses (a per-actor subset for smoke and quick).
    noise : pd.DataFrame
        UrbanSound8K rows selected as noise (with ``path``).
    profile : config.Profile
    standin : bool
        True when the speech is the generated stand-in corpus.
    standin_noise : bool
        True when the noise is the generated stand-in noise set.
    ravdess_root, noise_root : Path
    skipped : pd.DataFrame
        Files left out as unusable: columns ``source`` (``ravdess`` or ``noise``), ``path``,
        ``reason``.
    """

    manifest: pd.DataFrame
    clips: pd.DataFrame
    noise: pd.DataFrame
    profile: config.Profile
    standin: bool
    standin_noise: bool
    ravdess_root: Path
    noise_root: Path
    skipped: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=["source", "path", "reason"]))

    def describe(self) -> dict:
        """A JSON-friendly summary for results metadata."""
        return {
            "profile": self.profile.name,
            "data": "stand-in (synthetic)" if self.standin else "real",
            "noise": "stand-in (synthetic)" if self.standin_noise else "real",
            "ravdess_root": str(self.ravdess_root),
            "noise_root": str(self.noise_root),
            "n_manifest": len(self.manifest),
            "n_clips": len(self.clips),
            "n_noise_clips": len(self.noise),
            "n_skipped": len(self.skipped),
        }


def parse_folds(text: str | int | None) -> list[int] | None:
    """``"1"`` → [1], ``"2,5"`` → [2, 5], ``"all"``/``""``/None → None (every fold).

    Raises
    ------
    ConfigError
        If a fold is not an integer from 1 to 10.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "all")):
        return None
    items = [text] if isinstance(text, int) else [t for t in str(text).split(",") if t.strip()]
    try:
        folds = [int(t) for t in items]
    except ValueError:
        raise ConfigError(f"noise folds {text!r} must be 'all' or comma-separated integers 1..10") from None
    if any(not 1 <= f <= 10 for f in folds):
        raise ConfigError(f"noise folds {text!r} must lie in 1..10")
    return folds


def load_run(*, profile: str = "quick", ravdess_dir: str = "", noise_dir: str = "",
             noise_folds: str = "1", seed: int = config.SEED, strict: bool = False) -> RunData:
    """Find the data for a run, generating the stand-in corpus when no data is given.

    Unusable files (corrupt, empty, truncated, silent, misnamed, duplicates) are left out and
    listed in ``RunData.skipped``; ``strict=True`` stops at the first one instead.

    Raises
    ------
    DatasetError
        If a given root holds no RAVDESS speech, the noise selection is empty, an unusable
        file is found with ``strict``, or the usable clips cannot support the protocols (an
        actor without clips, or without one emotion: ``datasets.check_protocol``).
    ConfigError
        If ``profile`` or ``noise_folds`` is invalid.
    """
    run_profile = config.get_profile(profile)
    folds = parse_folds(noise_folds)
    # Arguments first, then SER_RAVDESS_DIR / SER_NOISE_DIR, then the generated stand-in.
    ravdess_dir = ravdess_dir or os.environ.get("SER_RAVDESS_DIR", "")
    noise_dir = noise_dir or os.environ.get("SER_NOISE_DIR", "")
    ravdess_root, noise_root, _ = config.resolve_data_roots(ravdess_dir or None, noise_dir or None)
    if not (ravdess_dir and noise_dir):
        from helpers import standin

        standin_ravdess, standin_noise = standin.ensure_standin()
        ravdess_root = ravdess_root if ravdess_dir else standin_ravdess
        noise_root = noise_root if noise_dir else standin_noise
    on_error = "raise" if strict else "skip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every skip is in the table below, with its reason
        manifest, skipped_speech = datasets.find_ravdess(ravdess_root, on_error=on_error)
        noise, skipped_noise = datasets.load_urbansound8k(noise_root, folds=folds, on_error=on_error)
    skipped = pd.concat([skipped_speech.assign(source="ravdess"), skipped_noise.assign(source="noise")],
                        ignore_index=True)[["source", "path", "reason"]]
    datasets.check_protocol(manifest, skipped_speech)
    clips = splits.subset_per_actor(manifest, clips_per_actor=run_profile.clips_per_actor, seed=seed)
    clips = clips.reset_index(drop=True)
    return RunData(manifest=manifest, clips=clips, noise=noise, profile=run_profile,
                   standin=not ravdess_dir, standin_noise=not noise_dir, ravdess_root=ravdess_root,
                   noise_root=noise_root, skipped=skipped)


def load_features(run: RunData, *, noise_config: augment.NoiseConfig = augment.NoiseConfig(),
                  feature_config: config.FeatureConfig = config.FEATURES, force: bool = False,
                  seed: int = config.SEED) -> features.FeatureSet:
    """Log-mels of the run's clips in the four noise versions (cached by content)."""
    return features.build_features(run.clips, run.noise["path"], feature_config=feature_config,
                                   noise_config=noise_config, seed=seed, force=force)


def saved_noise_config() -> augment.NoiseConfig:
    """The noise levels notebook 02 built the cached features with, read from its metrics file.

    A later notebook that passes them to :func:`load_features` (with the same run and seed)
    gets the same cache key, so it reads the features notebook 02 wrote instead of rebuilding
    them at the default levels.

    Returns
    -------
    augment.NoiseConfig

    Raises
    ------
    FileNotFoundError
        If notebook 02 has not written ``metrics_path(VARIANTS_METRICS)`` in this outputs folder.
    """
    variants_summary = io.read_json(config.metrics_path(config.VARIANTS_METRICS))
    return augment.NoiseConfig(**variants_summary["noise_config"])


def load_cached_run(*, profile: str = "quick", ravdess_dir: str = "", noise_dir: str = "",
                    noise_folds: str = "1", seed: int = config.SEED, strict: bool = False,
                    ) -> tuple[RunData, features.FeatureSet, augment.NoiseConfig]:
    """What notebooks 03 to 07 load first: the run's data and notebook 02's cached features.

    :func:`load_run` with the notebook's parameters, then :func:`load_features` at the noise
    levels notebook 02 used (:func:`saved_noise_config`), so the features it cached are found.

    Returns
    -------
    run : RunData
    feature_set : features.FeatureSet
        Log-mels of ``run.clips`` in the four noise versions.
    noise_config : augment.NoiseConfig
        The noise levels of ``feature_set`` (models' sidecars record them).

    Raises
    ------
    DatasetError, ConfigError
        As :func:`load_run`.
    FileNotFoundError
        As :func:`saved_noise_config`.
    """
    noise_config = saved_noise_config()
    run = load_run(profile=profile, ravdess_dir=ravdess_dir, noise_dir=noise_dir,
                   noise_folds=noise_folds, seed=seed, strict=strict)
    feature_set = load_features(run, noise_config=noise_config, seed=seed)
    return run, feature_set, noise_config


def write_metrics(name: str, run: RunData, results: dict, *, parameters: dict,
                  data_fingerprint: str, seed: int, model_cache: bool = True) -> dict:
    """Write a notebook's metrics file: the run, its results, and what produced them.

    The file holds, in this order, :meth:`RunData.describe`, ``results``, the model cache's
    tally of this session (``model_cache``), the CNNs' default precision (``precision``,
    :func:`helpers.config.describe_precision`) and :func:`helpers.io.run_metadata` (parameters,
    seed, data fingerprint, library versions).

    Parameters
    ----------
    name : str
        The metrics file's name (``config.EMOTION_METRICS`` ...): it is written to
        ``config.metrics_path(name)``.
    run : RunData
    results : dict
        What the notebook found, JSON-ready.
    parameters : dict
        The notebook parameters (and derived values) that produced the results.
    data_fingerprint : str
        The features' cache key.
    seed : int
    model_cache : bool
        Record ``training.cache_tally()`` and the precision (notebooks that train models).

    Returns
    -------
    dict
        What was written (a notebook that adds to it later writes it again).

    Raises
    ------
    ConfigError
        If ``results`` repeats a key of the run description or of the metadata.
    """
    head = run.describe()
    metadata = io.run_metadata(parameters=parameters, data_fingerprint=data_fingerprint, seed=seed)
    clashes = sorted((set(head) | set(metadata) | {"model_cache", "precision", "threads"}) & set(results))
    if clashes:
        raise ConfigError(f"results={sorted(results)} repeat the keys {clashes} that the metrics "
                          "file's run description, model cache tally or metadata hold")
    payload = {**head, **results}
    if model_cache:
        from helpers import training  # Keras loads only for notebooks that train

        payload["model_cache"] = training.cache_tally()
        payload["precision"] = config.describe_precision()
        payload["threads"] = config.describe_threads()
    payload.update(metadata)
    io.write_json(config.metrics_path(name), payload)
    return payload
