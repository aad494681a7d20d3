"""pipeline.load_run on a copy of RAVDESS with bad files: skipped, listed, or refused; and
load_cached_run, which finds the features notebook 02 cached at its noise levels."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from conftest import make_ravdess_tree, make_us8k_tree, ravdess_name
from helpers import augment, config, io, pipeline
from helpers.errors import ConfigError, DatasetError


@pytest.fixture
def roots(tmp_path):
    """All 24 actors with one short clip of each of the 8 emotions, and two noise clips.

    0.6 s: just long enough to reach into the analysis window, which starts at 0.5 s.
    """
    ravdess, noise = tmp_path / "ravdess", tmp_path / "us8k"
    make_ravdess_tree(ravdess, actors=range(1, 25), emotions=range(1, 9), duration_s=0.6,
                      sample_rate=16_000)
    make_us8k_tree(noise, folds=(1,))
    return ravdess, noise


def load(roots, **kwargs):
    ravdess, noise = roots
    return pipeline.load_run(profile="smoke", ravdess_dir=str(ravdess), noise_dir=str(noise), **kwargs)


def test_a_corrupt_file_is_left_out_and_listed_and_the_run_goes_on(roots):
    ravdess, noise = roots
    # A second take of a clip, corrupt; an AppleDouble file; a broken noise clip.
    corrupt = ravdess / "Actor_03" / ravdess_name(emotion=5, statement=2, actor=3)
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    fork = ravdess / "Actor_03" / f"._{ravdess_name(emotion=5, actor=3)}"
    fork.write_bytes(b"\x00\x05\x16\x07")
    broken_noise = sorted((noise / "audio" / "fold1").glob("*.wav"))[0]
    broken_noise.write_bytes(b"")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the skips are in the table, not a stream of warnings
        run = load(roots)

    assert len(run.manifest) == 24 * 8 and len(run.noise) == 1
    assert dict(zip(run.skipped["path"], run.skipped["source"])) == {
        str(corrupt.resolve()): "ravdess", str(fork.resolve()): "ravdess", str(broken_noise): "noise"}
    assert run.describe()["n_skipped"] == 3

    with pytest.raises(DatasetError, match="not a readable audio file") as caught:
        load(roots, strict=True)
    assert corrupt.name in str(caught.value)


def test_a_copy_that_loses_an_actor_or_an_emotion_stops_with_one_message(roots):
    ravdess, _ = roots
    for path in (ravdess / "Actor_07").glob("*.wav"):
        path.write_bytes(b"")
    (ravdess / "Actor_12" / ravdess_name(emotion=4, actor=12)).write_bytes(b"")

    with pytest.raises(DatasetError) as caught:
        load(roots)

    message = str(caught.value)
    assert "actor 7 has no usable clip" in message and "actor 12 has no sad clip" in message
    assert "9 files were skipped" in message


def test_write_metrics_puts_the_run_first_and_the_metadata_last(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "METRICS_DIR", tmp_path / "metrics")
    run = pipeline.RunData(manifest=pd.DataFrame({"clip_id": ["a", "b"]}), clips=pd.DataFrame({"clip_id": ["a"]}),
                           noise=pd.DataFrame({"path": []}), profile=config.get_profile("smoke"),
                           standin=True, standin_noise=True, ravdess_root=tmp_path, noise_root=tmp_path)
    written = pipeline.write_metrics("99_test", run, {"uar": 0.5, "models": ["m.keras"]},
                                     parameters={"PROFILE": "smoke"}, data_fingerprint="key", seed=7,
                                     model_cache=False)
    assert io.read_json(config.metrics_path("99_test")) == json.loads(json.dumps(written))
    assert list(written) == [*run.describe(), "uar", "models", "parameters", "seed",
                             "data_fingerprint", "versions"]
    assert written["n_manifest"] == 2 and written["seed"] == 7 and written["data_fingerprint"] == "key"
    assert written["versions"] == io.library_versions()

    with_cache = pipeline.write_metrics("99_test", run, {"uar": 0.5}, parameters={},
                                        data_fingerprint="key", seed=7)
    assert list(with_cache)[len(run.describe()) + 1] == "model_cache"
    assert set(with_cache["model_cache"]) == {"cached", "trained"}
    with pytest.raises(ConfigError, match=r"repeat the keys \['n_clips', 'seed'\]"):
        pipeline.write_metrics("99_test", run, {"seed": 1, "n_clips": 3}, parameters={},
                               data_fingerprint="key", seed=7)


def test_load_cached_run_uses_notebook_02s_noise_levels(roots, tmp_path, monkeypatch):
    ravdess, noise = roots
    monkeypatch.setattr(config, "METRICS_DIR", tmp_path / "metrics")
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    arguments = {"profile": "smoke", "ravdess_dir": str(ravdess), "noise_dir": str(noise)}
    with pytest.raises(FileNotFoundError):
        pipeline.load_cached_run(**arguments)

    # What notebook 02 writes: the levels it built the features with, not the defaults.
    levels = augment.NoiseConfig(white_snr_db=20.0, urban_snr_db=5.0)
    io.write_json(config.metrics_path(config.VARIANTS_METRICS), {"noise_config": levels.to_dict()})
    built = pipeline.load_features(pipeline.load_run(**arguments), noise_config=levels)

    run, feature_set, noise_config = pipeline.load_cached_run(**arguments)
    assert noise_config == levels == pipeline.saved_noise_config()
    assert feature_set.cached and feature_set.key == built.key
    assert feature_set.clips["clip_id"].tolist() == run.clips["clip_id"].tolist()
    assert pipeline.load_features(run).key != built.key  # the default levels are another set
