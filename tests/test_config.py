"""helpers.config: run profiles, the feature configuration, the data roots and every folder,
including the environment variables that move them (read at import, so checked in a fresh
interpreter)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config
from helpers.errors import ConfigError, OutputError


def test_profiles_grow_from_smoke_to_full():
    assert list(config.PROFILES) == ["smoke", "quick", "full"]
    smoke, quick, full = (config.get_profile(name) for name in config.PROFILES)
    assert all(config.PROFILES[name].name == name for name in config.PROFILES)
    assert smoke.max_epochs < quick.max_epochs < full.max_epochs
    assert smoke.n_folds < quick.n_folds < full.n_folds
    assert smoke.clips_per_actor < quick.clips_per_actor and full.clips_per_actor is None
    assert not smoke.recipe_copies and quick.recipe_copies and full.recipe_copies
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.max_epochs = 5


@pytest.mark.parametrize("name", ["tiny", "", "Smoke"])
def test_get_profile_names_the_argument_and_the_choices(name):
    with pytest.raises(ConfigError) as caught:
        config.get_profile(name)
    assert str(caught.value) == f"profile={name!r} must be one of ['full', 'quick', 'smoke']"
    assert isinstance(caught.value, ValueError)


def test_feature_configuration_shapes_and_round_trip():
    features = config.FEATURES
    assert features.n_samples == 48_000  # 3 s at 16 kHz
    assert features.n_frames == 151 and features.input_shape == (64, 151, 1)
    assert config.FeatureConfig.from_dict(features.to_dict()) == features
    assert config.FeatureConfig(n_mels=32).fingerprint() != features.fingerprint()
    with pytest.raises(ConfigError, match="unknown keys"):
        config.FeatureConfig.from_dict({**features.to_dict(), "n_mfcc": 13})
    with pytest.raises(ConfigError, match=r"hop_length=0 must be positive"):
        config.FeatureConfig(hop_length=0)
    with pytest.raises(ConfigError, match=r"win_length=2048 must be in \(0, n_fft=1024\]"):
        config.FeatureConfig(win_length=2048)


def test_variants_labels_and_results_names():
    assert config.VARIANTS == ("clean", "white", "urban", "white_urban", "aggregation")
    assert len(config.EMOTIONS) == 8 and config.EMOTIONS[0] == "neutral"
    assert config.metrics_path(config.FUSION_METRICS) == config.METRICS_DIR / "07_fusion.json"
    names = [config.TABLE1, config.TABLE2, config.TABLE3, config.FUSION_TABLE, config.SKIPPED_TABLE]
    assert len(set(names)) == len(names)
    assert config.stable_hash({"a": 1, "b": 2}) == config.stable_hash({"b": 2, "a": 1})
    assert len(config.stable_hash([1])) == 16


def test_folder_functions_follow_a_moved_parent(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    monkeypatch.setattr(config, "OUTPUTS_DIR", tmp_path / "out")
    monkeypatch.setattr(config, "EXECUTED_DIR", tmp_path / "out" / "notebooks")
    assert config.features_cache_dir() == tmp_path / "cache" / "features"
    assert config.functionals_cache_dir() == tmp_path / "cache" / "functionals"
    assert config.model_cache_dir() == tmp_path / "models" / "cache"
    assert config.optuna_dir() == tmp_path / "out" / "optuna"
    assert config.uploads_dir() == tmp_path / "out" / "uploads"
    assert config.notebook_logs_dir() == tmp_path / "out" / "notebooks" / "logs"
    assert config.standin_dirs(tmp_path) == (tmp_path / "ravdess", tmp_path / "urbansound8k")


def test_ensure_output_dirs_creates_them_and_names_a_blocked_one(tmp_path, monkeypatch):
    for name in ("TABLES_DIR", "FIGURES_DIR", "MODELS_DIR", "METRICS_DIR", "EXECUTED_DIR"):
        monkeypatch.setattr(config, name, tmp_path / "out" / name.lower())
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    config.ensure_output_dirs()
    config.ensure_output_dirs()  # idempotent
    assert all(folder.is_dir() for folder in config.output_dirs())

    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setattr(config, "CACHE_DIR", blocked / "cache")
    with pytest.raises(OutputError, match=r"cannot be created .*set SER_CACHE_DIR"):
        config.ensure_output_dirs()


def test_data_roots_arguments_then_environment_then_the_standin(tmp_path, monkeypatch):
    monkeypatch.delenv("SER_RAVDESS_DIR", raising=False)
    monkeypatch.delenv("SER_NOISE_DIR", raising=False)
    assert config.resolve_data_roots() == (config.STANDIN_RAVDESS_DIR, config.STANDIN_NOISE_DIR, True)

    monkeypatch.setenv("SER_RAVDESS_DIR", str(tmp_path / "env_ravdess"))
    ravdess, noise, standin = config.resolve_data_roots()
    assert (ravdess, noise, standin) == (tmp_path / "env_ravdess", config.STANDIN_NOISE_DIR, True)

    ravdess, noise, standin = config.resolve_data_roots(tmp_path / "arg", tmp_path / "noise")
    assert (ravdess, noise, standin) == (tmp_path / "arg", tmp_path / "noise", False)


def test_environment_variables_move_the_folders_at_import(tmp_path):
    """SER_OUTPUTS_DIR, SER_CACHE_DIR and SER_STANDIN_DIR are read when config is imported."""
    script = ("import json; from helpers import config; print(json.dumps({k: str(v) for k, v in {"
              "'outputs': config.OUTPUTS_DIR, 'tables': config.TABLES_DIR, 'cache': config.CACHE_DIR,"
              "'features': config.features_cache_dir(), 'standin': config.STANDIN_DIR,"
              "'ravdess': config.STANDIN_RAVDESS_DIR}.items()}))")
    project = Path(config.PROJECT_ROOT)

    def folders(**environment) -> dict:
        env = {key: value for key, value in os.environ.items()
               if key not in ("SER_OUTPUTS_DIR", "SER_CACHE_DIR", "SER_STANDIN_DIR")}
        result = subprocess.run([sys.executable, "-c", script], env={**env, **environment},
                                cwd=tmp_path, capture_output=True, text=True, check=True,
                                timeout=60)
        return {key: Path(value) for key, value in json.loads(result.stdout).items()}

    env = {"PYTHONPATH": str(project)}
    default = folders(**env)
    assert default["outputs"] == project / "outputs" and default["cache"] == project / "outputs" / "cache"
    assert default["standin"] == project / "data" / "standin"

    moved = folders(**env, SER_OUTPUTS_DIR=str(tmp_path / "o"), SER_STANDIN_DIR=str(tmp_path / "s"))
    assert moved["outputs"] == tmp_path / "o" and moved["tables"] == tmp_path / "o" / "tables"
    assert moved["cache"] == tmp_path / "o" / "cache"  # the cache follows the outputs folder
    assert moved["standin"] == tmp_path / "s" and moved["ravdess"] == tmp_path / "s" / "ravdess"

    cache = folders(**env, SER_CACHE_DIR=str(tmp_path / "c"))
    assert cache["cache"] == tmp_path / "c" and cache["features"] == tmp_path / "c" / "features"
    assert cache["outputs"] == project / "outputs"


# ----------------------------------------------------------------------------------------------
# Compute precision of the log-mel CNNs
# ----------------------------------------------------------------------------------------------

def _cpuinfo(tmp_path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: fpu\n")
    return path


def test_cpu_has_bfloat16_reads_the_first_flags_line(tmp_path):
    assert config.cpu_has_bfloat16(_cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert config.cpu_has_bfloat16(_cpuinfo(tmp_path, "amx_tile amx_bf16"))
    assert not config.cpu_has_bfloat16(_cpuinfo(tmp_path, "avx512f avx512_vnni"))
    assert not config.cpu_has_bfloat16(tmp_path / "missing")  # not Linux: float32


@pytest.mark.parametrize("setting, cpu, expected", [
    ("auto", True, True), ("auto", False, False), ("", True, True),
    ("float32", True, False), ("bfloat16", False, True), (" BFloat16 ", True, True),
])
def test_default_precision_follows_the_setting_then_the_cpu(monkeypatch, setting, cpu, expected):
    monkeypatch.setenv(config.PRECISION_ENV, setting)
    monkeypatch.setattr(config, "cpu_has_bfloat16", lambda: cpu)
    assert config.default_mixed_precision() is expected
    assert config.describe_precision() == {"setting": setting.strip().lower() or "auto",
                                           "cnn_compute": "bfloat16" if expected else "float32",
                                           "cpu_bfloat16": cpu}


def test_a_bad_precision_setting_is_named(monkeypatch):
    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    with pytest.raises(ConfigError, match="SER_PRECISION='bf16' must be one of auto, float32, bfloat16"):
        config.default_mixed_precision()
