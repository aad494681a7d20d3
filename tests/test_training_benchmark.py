"""The training-throughput benchmark: its JSON line and time split, on small generated inputs."""

from __future__ import annotations

import json

import pytest

from benchmarks import training as benchmark

KEYS = {"recipe", "precision", "train_samples_per_s", "reference_samples_per_s",
        "speedup_vs_reference", "inference_samples_per_s"}


@pytest.mark.parametrize("recipe, shape", [("original", (16, 24)), ("ours", (40,))])
def test_the_last_line_is_json_with_the_rates_and_the_time_split(recipe, shape, monkeypatch, capsys):
    monkeypatch.setitem(benchmark.SHAPES, recipe, shape)  # small inputs of the same kind
    assert benchmark.main(["--recipe", recipe, "--items", "96", "--epochs", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    record = json.loads(lines[-1])
    assert KEYS <= set(record)
    assert record["recipe"] == recipe and record["precision"] == "float32"
    assert record["solver"] == ("gradient" if recipe == "original" else "lbfgs")
    for key in ("train_samples_per_s", "reference_samples_per_s", "inference_samples_per_s"):
        assert record[key] > 0, key
    parts = record["seconds"]
    # The printed times are rounded to the millisecond: the speed-up must lie within the ratios
    # those roundings allow (a tenth-of-a-second solve leaves about 1 % either way).
    half = 0.0005
    low = (parts["reference"] - half) / (parts["project"] + half)
    high = (parts["reference"] + half) / max(parts["project"] - half, 1e-9)
    assert low * 0.999 <= record["speedup_vs_reference"] <= high * 1.001
    if recipe == "original":  # the same epochs: the ratio of the rates too
        assert record["speedup_vs_reference"] == pytest.approx(
            record["train_samples_per_s"] / record["reference_samples_per_s"], rel=0.02)
    assert parts["input_pipeline"] + parts["compute"] + parts["callbacks_validation_setup"] == \
        pytest.approx(parts["project"], abs=0.05) or parts["callbacks_validation_setup"] == 0
    assert any("where the project's training time goes" in line for line in lines)


def test_bad_arguments_are_refused_with_the_argument_named(capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["--items", "10"])
    assert "--items 10: expected at least 96" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark.main(["--recipe", "ours", "--precision", "bfloat16", "--items", "96"])
