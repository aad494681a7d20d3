"""Log-mel spectrograms of the five dataset variants, computed in batches and cached on disk.

Every clip is read once; its four versions (clean, white, urban, white + urban) are made in
memory and their log-mels computed in one batched STFT. The aggregation variant is the four
stacked, so it costs nothing extra. The result is cached under ``config.CACHE_DIR`` with a key
that hashes the feature and noise configurations, the seed and the contents of every input
file, so an unchanged rerun loads it and any change recomputes it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
from pathlib import Path

import librosa
import numpy as np
import pandas as pd

from helpers import audio, augment, config, io
from helpers.errors import AudioError, ProjectError

FEATURES_VERSION = 1  # bump when the computation changes in a way the key cannot see


class FeatureError(ProjectError):
    """One or more clips could not be turned into features."""


@functools.lru_cache(maxsize=8)
def mel_basis(feature_config: config.FeatureConfig = config.FEATURES) -> np.ndarray:
    """The mel filter bank of a configuration, ``[shape=(n_mels, 1 + n_fft // 2)]``."""
    return librosa.filters.mel(sr=feature_config.sample_rate, n_fft=feature_config.n_fft,
                               n_mels=feature_config.n_mels, fmin=feature_config.fmin,
                               fmax=feature_config.fmax)


def log_mel(y: np.ndarray, *, feature_config: config.FeatureConfig = config.FEATURES) -> np.ndarray:
    """Log-mel spectrogram in dB of one signal or a batch.

    Equal to ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=..., n_fft=...,
    hop_length=..., win_length=..., window=..., n_mels=..., fmin=..., fmax=...), ref=1.0,
    amin=..., top_db=None)`` to float32 rounding; the mel basis is built once per
    configuration instead of once per call.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n_samples)]

    Returns
    -------
    S_db : np.ndarray [shape=(..., n_mels, n_frames), dtype=float32]
    """
    y = np.asarray(y, dtype=np.float32)
    if y.shape[-1] < feature_config.n_fft // 2 + 1:
        raise FeatureError(f"y has {y.shape[-1]} samples; at least n_fft//2+1="
                           f"{feature_config.n_fft // 2 + 1} are needed")
    spectrum = librosa.stft(y, n_fft=feature_config.n_fft, hop_length=feature_config.hop_length,
                            win_length=feature_config.win_length, window=feature_config.window,
                            center=True, pad_mode="constant")
    power = spectrum.real ** 2 + spectrum.imag ** 2
    mel = np.einsum("mf,...ft->...mt", mel_basis(feature_config), power, optimize=True)
    return librosa.power_to_db(mel, ref=1.0, amin=feature_config.amin, top_db=None).astype(np.float32)


def data_key(key: str, *variants: str) -> str:
    """Model-cache identity of the features ``key`` seen through ``variants``.

    The one spelling of the ``f"{key}:{variant}"`` strings that key trained models and
    studies; helpers that are handed a key string (not a :class:`FeatureSet`) call this, and
    :meth:`FeatureSet.data_key` calls it with the set's own key.

    Parameters
    ----------
    key : str
        A features cache key (``FeatureSet.key``), or a key already made by this function.
    *variants : str
        One or more names appended in order, each after a colon: a dataset variant
        (``"clean"``), a recipe's features (``"functionals"``), a model variant (``"with-gender"``).

    Returns
    -------
    str
        ``"key:variant"`` (``"key:first:second"`` for two names).

    Raises
    ------
    FeatureError
        If ``key`` or a variant is not a non-empty string, or no variant is given.
    """
    if not isinstance(key, str) or not key:
        raise FeatureError(f"key={key!r} must be a non-empty string")
    if not variants:
        raise FeatureError("data_key needs at least one variant after the key")
    for variant in variants:
        if not isinstance(variant, str) or not variant:
            raise FeatureError(f"variant={variant!r} must be a non-empty string")
    return ":".join((key, *variants))


@dataclasses.dataclass
class FeatureSet:
    """Log-mels of every clip in every noise version, aligned with the clip table.

    Attributes
    ----------
    features : np.ndarray [shape=(4, n_clips, n_mels, n_frames), dtype=float32]
        Axis 0 follows ``config.NOISE_VARIANTS``.
    clips : pd.DataFrame
        The manifest rows, in feature order.
    snr : pd.DataFrame
        Measured SNR per clip and noisy variant (columns ``clip_id, variant, requested_db,
        measured_db``).
    key : str
        The cache key.
    """

    features: np.ndarray
    clips: pd.DataFrame
    snr: pd.DataFrame
    key: str
    cached: bool = False

    def data_key(self, *variants: str) -> str:
        """Model-cache identity of these features in ``variants``: ``f"{key}:{variant}"``.

        Parameters
        ----------
        *variants : str
            A dataset variant (``"clean"``), or several names joined in order
            (``feature_set.data_key("functionals", "clean")`` is ``f"{key}:functionals:clean"``).

        Returns
        -------
        str

        Raises
        ------
        FeatureError
            As :func:`data_key`.
        """
        return data_key(self.key, *variants)

    def variant(self, name: str, *, clip_ids=None) -> tuple[np.ndarray, pd.DataFrame]:
        """Features and item table of one variant, optionally for a subset of clips.

        Returns
        -------
        X : np.ndarray [shape=(n_items, n_mels, n_frames)]
        items : pd.DataFrame
            Clip table rows with a ``variant`` column; in the aggregation variant each clip
            appears four times (one row per noise version, same ``clip_id``).
        """
        if name not in config.VARIANTS:
            raise FeatureError(f"variant={name!r} must be one of {config.VARIANTS}")
        rows = np.arange(len(self.clips))
        if clip_ids is not None:
            wanted = set(clip_ids)
            rows = rows[self.clips["clip_id"].isin(wanted).to_numpy()]
        parts = config.NOISE_VARIANTS if name == "aggregation" else (name,)
        xs, tables = [], []
        for part in parts:
            xs.append(self.features[config.NOISE_VARIANTS.index(part)][rows])
            table = self.clips.iloc[rows].copy()
            table["variant"] = part
            tables.append(table)
        return np.concatenate(xs), pd.concat(tables, ignore_index=True)


def files_fingerprint(paths, *, max_workers: int = 4) -> list[str]:
    """Content digests of files, in order (threads: hashing releases the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(io.file_digest, [str(p) for p in paths]))


def feature_key(manifest: pd.DataFrame, noise_paths, *, feature_config: config.FeatureConfig,
                noise_config: augment.NoiseConfig, seed: int,
                noise_digests: list[str] | None = None) -> str:
    """Cache key: configurations, seed, and the contents of every speech and noise file."""
    speech_digests = files_fingerprint(manifest["path"])
    if noise_digests is None:
        noise_digests = files_fingerprint(noise_paths)
    return config.stable_hash({
        "version": FEATURES_VERSION,
        "features": feature_config.to_dict(),
        "noise": noise_config.to_dict(),
        "seed": seed,
        "speech": list(zip(manifest["clip_id"], speech_digests)),
        "noise_files": noise_digests,
    })


def build_features(manifest: pd.DataFrame, noise_paths, *,
                   feature_config: config.FeatureConfig = config.FEATURES,
                   noise_config: augment.NoiseConfig = augment.NoiseConfig(),
                   seed: int = config.SEED, cache_dir: str | os.PathLike | None = None,
                   force: bool = False, n_jobs: int | None = None,
                   chunk_size: int = 48) -> FeatureSet:
    """Log-mels of the four noise versions of every clip in ``manifest``, cached.

    Parameters
    ----------
    manifest : pd.DataFrame
        Rows from :func:`helpers.datasets.find_ravdess` (columns ``path`` and ``clip_id``).
    noise_paths : sequence of path
        Urban noise clips (e.g. the ``path`` column of
        :func:`helpers.datasets.load_urbansound8k`).
    cache_dir : path, optional
        Default :func:`helpers.config.features_cache_dir`.
    force : bool
        Recompute even when a cached result exists.
    n_jobs : int, optional
        Worker processes; default the number of CPUs (at most 8). 1 runs in this process.

    Returns
    -------
    FeatureSet

    Raises
    ------
    FeatureError
        If the manifest is empty or lacks columns, or any clip cannot be read (all bad files
        are listed with their reasons).
    """
    missing = {"path", "clip_id"} - set(manifest.columns)
    if missing:
        raise FeatureError(f"manifest lacks columns {sorted(missing)}")
    if len(manifest) == 0:
        raise FeatureError("manifest is empty: no clips to compute features for")
    if manifest["clip_id"].duplicated().any():
        duplicate = manifest.loc[manifest["clip_id"].duplicated(), "clip_id"].iloc[0]
        raise FeatureError(f"manifest has clip_id {duplicate!r} more than once")
    noise_paths = [str(p) for p in noise_paths]
    manifest = manifest.reset_index(drop=True)
    cache_dir = Path(cache_dir) if cache_dir is not None else config.features_cache_dir()
    noise_digests = files_fingerprint(noise_paths)
    key = feature_key(manifest, noise_paths, feature_config=feature_config,
                      noise_config=noise_config, seed=seed, noise_digests=noise_digests)
    target = cache_dir / f"logmel_{key}.npz"
    if target.is_file() and not force:
        with np.load(target) as stored:
            features = stored["features"]
            snr = pd.DataFrame({"clip_id": np.repeat(manifest["clip_id"].to_numpy(), 3),
                                "variant": np.tile(config.NOISE_VARIANTS[1:], len(manifest)),
                                "requested_db": stored["snr_requested"],
                                "measured_db": stored["snr_measured"]})
        return FeatureSet(features, manifest, snr, key, cached=True)

    chunks = [manifest.iloc[i:i + chunk_size] for i in range(0, len(manifest), chunk_size)]
    jobs = [(chunk["path"].tolist(), chunk["clip_id"].tolist()) for chunk in chunks]
    n_jobs = n_jobs or min(os.cpu_count() or 1, 8)
    # The digests are part of the noise bank's cache key, so an edited noise file is reloaded.
    settings = (tuple(noise_paths), tuple(noise_digests), feature_config, noise_config, seed)
    if n_jobs == 1 or len(jobs) == 1:
        results = [_features_for_chunk(job, settings) for job in jobs]
    else:
        # Threads, not processes: libsndfile, soxr, the FFT and the mel matmul release the
        # GIL, and threads avoid re-importing librosa in workers (seconds per process).
        with concurrent.futures.ThreadPoolExecutor(max_workers=n_jobs) as pool:
            results = list(pool.map(lambda job: _features_for_chunk(job, settings), jobs))

    failures = [failure for _, _, chunk_failures in results for failure in chunk_failures]
    if failures:
        listing = "; ".join(failures[:10]) + (f"; and {len(failures) - 10} more" if len(failures) > 10 else "")
        raise FeatureError(f"{len(failures)} clips could not be read: {listing}")
    features = np.concatenate([r[0] for r in results], axis=1)
    snr_rows = [row for r in results for row in r[1]]
    snr = pd.DataFrame(snr_rows, columns=["clip_id", "variant", "requested_db", "measured_db"])
    io.save_npz(target, features=features, snr_requested=snr["requested_db"].to_numpy(),
                snr_measured=snr["measured_db"].to_numpy())
    return FeatureSet(features, manifest, snr, key, cached=False)


@functools.lru_cache(maxsize=2)
def _noise_bank(noise_paths: tuple[str, ...], noise_digests: tuple[str, ...],
                sample_rate: int) -> list[np.ndarray]:
    # Loaded once per process and reused for every chunk; keyed by content, not only paths.
    return augment.load_noise_bank(list(noise_paths), sample_rate=sample_rate)


def _features_for_chunk(job, settings):
    """Worker: load each clip once, make its four versions, one batched log-mel per chunk."""
    paths, clip_ids = job
    noise_paths, noise_digests, feature_config, noise_config, seed = settings
    try:
        noise_bank = _noise_bank(noise_paths, noise_digests, feature_config.sample_rate)
    except AudioError as error:
        return None, [], [f"noise clip {error}"]
    requested = {"white": noise_config.white_snr_db, "urban": noise_config.urban_snr_db,
                 "white_urban": noise_config.white_urban_snr_db}
    signals, snr_rows, failures = [], [], []
    for path, clip_id in zip(paths, clip_ids):
        try:
            speech = audio.load_window(path, feature_config=feature_config)
        except AudioError as error:
            failures.append(str(error))
            continue
        versions = augment.noisy_versions(speech, clip_id=clip_id, noise_bank=noise_bank,
                                          noise_config=noise_config, seed=seed)
        signals.append(np.stack([versions[v] for v in config.NOISE_VARIANTS]))
        for variant in config.NOISE_VARIANTS[1:]:
            snr_rows.append((clip_id, variant, requested[variant],
                             augment.measured_snr_db(speech, versions[variant])))
    if failures:
        return None, [], failures
    batch = np.stack(signals, axis=1)  # (4, n_chunk, n_samples)
    return log_mel(batch, feature_config=feature_config), snr_rows, []
