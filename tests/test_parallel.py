"""Trainings side by side (``jobs``): worker processes give the numbers of a serial run."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from helpers import config, experiments, parallel, training
from helpers.errors import ConfigError
from tests.light_tasks import shape_after_a_nap
from tests.test_experiments import TINY, tiny_items

HYPER = {"dropout_rate": 0.1, "learning_rate": 0.01, "filters": (4, 8), "dense_units": 16}


def run(x, items, *, jobs, split_list=None):
    return experiments.run_protocol(x, items, variant="clean", protocol="speaker-independent",
                                    profile=TINY, hyperparameters=HYPER, seed=3, data_key="tiny",
                                    jobs=jobs, split_list=split_list)


def test_jobs_train_in_workers_and_give_the_numbers_of_a_serial_run(tmp_path, monkeypatch):
    x, items = tiny_items()
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "serial")
    serial = run(x, items, jobs=1)
    training.cache_tally(reset=True)
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "parallel")
    side_by_side = run(x, items, jobs=2)
    # Both folds were trained (in the workers), none reused: the tally and the rows say so.
    assert training.cache_tally(reset=True) == {"cached": 0, "trained": 2}
    assert not any(fold.cached for fold in side_by_side.folds)
    assert all(fold.seconds > 0 for fold in side_by_side.folds)
    assert len(list((tmp_path / "parallel" / "cache").glob("*.keras"))) == 2
    for one, other in zip(serial.folds, side_by_side.folds):
        np.testing.assert_array_equal(one.probabilities, other.probabilities)
        assert one.history == other.history
    np.testing.assert_array_equal(serial.model.get_weights()[0], side_by_side.model.get_weights()[0])
    # Run again with jobs: the workers find both models in the cache and nothing is retrained.
    again = run(x, items, jobs=2)
    assert all(fold.cached for fold in again.folds)
    assert training.cache_tally(reset=True) == {"cached": 2, "trained": 0}


def test_a_workers_error_reaches_the_caller(tmp_path, monkeypatch):
    x, items = tiny_items(clips_per_emotion=1)
    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "models")
    split = experiments.make_splits(items, protocol="speaker-independent", seed=0, n_folds=2)[0]
    labels = experiments.emotion_labels(items)
    with pytest.raises(ConfigError, match="jobs=0"):
        parallel.train_splits(x, [{"y": labels, "split": split}], jobs=0)
    assert parallel.train_splits(x, [], jobs=2) == []
    # y one row short: the worker's training refuses it, and the error comes back here.
    call = {"y": labels[:-1], "split": split, "profile": TINY, "hyperparameters": HYPER, "seed": 0,
            "data_key": "bad", "cache_folder": tmp_path / "models" / "cache"}
    with pytest.raises(Exception, match="rows|shape|size|length"):
        parallel.train_splits(x, [call, call], jobs=2)


def test_threads_and_jobs_settings(monkeypatch):
    monkeypatch.delenv(config.THREADS_ENV, raising=False)
    monkeypatch.delenv(config.JOBS_ENV, raising=False)
    assert (config.training_threads(), config.jobs()) == (config.DEFAULT_THREADS, 1)
    monkeypatch.setenv(config.THREADS_ENV, "0")
    assert config.training_threads() == 0
    for name, bad in ((config.THREADS_ENV, "-1"), (config.THREADS_ENV, "two"), (config.JOBS_ENV, "0")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ConfigError, match=f"{name}='{bad}' must be a whole number"):
            config.describe_threads()
        monkeypatch.delenv(name)
    # Importing helpers pinned TensorFlow's threads (this process computed after it).
    assert os.environ[config.TF_THREADS_ENV] == str(config.DEFAULT_THREADS)
    # A value the user set is kept.
    monkeypatch.setenv(config.TF_THREADS_ENV, "3")
    monkeypatch.setenv(config.THREADS_ENV, "1")
    config.pin_threads()
    assert os.environ[config.TF_THREADS_ENV] == "3"
    assert config.describe_threads() == {"setting": 1, "tensorflow_intra_op": "3",
                                         "lbfgs": 1, "jobs": 1}


def test_the_fusion_study_with_jobs_gives_the_numbers_of_a_serial_run(tmp_path, monkeypatch):
    from helpers import fusion

    x, items = tiny_items()
    first_fold = experiments.make_splits(items, protocol="speaker-independent", seed=3, n_folds=2)[:1]
    results = {}
    for jobs in (1, 2):
        monkeypatch.setattr(config, "MODELS_DIR", tmp_path / f"jobs-{jobs}")
        plain = run(x, items, jobs=1, split_list=first_fold)
        training.cache_tally(reset=True)
        results[jobs] = fusion.run_fusion(x, items, variant="clean", plain=plain, profile=TINY,
                                          hyperparameters=HYPER, seed=3, data_key="tiny", jobs=jobs)
        tally = training.cache_tally(reset=True)
        # The gender CNN, the fusion CNN, the female and the male CNNs: every one trained here
        # (the last three in the workers with jobs).
        assert tally == {"cached": 0, "trained": 4}, (jobs, tally)
    for one, other in zip(results[1].folds, results[2].folds):
        assert one.probabilities.keys() == other.probabilities.keys()
        for key in one.probabilities:
            np.testing.assert_array_equal(one.probabilities[key], other.probabilities[key])


def test_another_thread_count_is_another_cache_key(monkeypatch):
    parts = {"x": np.arange(6, dtype=np.float32), "seed": 1}
    monkeypatch.setenv(config.TF_THREADS_ENV, str(config.DEFAULT_THREADS))
    pinned = training.training_key(**parts)
    fitted_elsewhere = training.training_key(tensorflow_threads=False, **parts)
    monkeypatch.setenv(config.TF_THREADS_ENV, "8")
    eight = training.training_key(**parts)
    assert training.training_key(tensorflow_threads=False, **parts) == fitted_elsewhere
    monkeypatch.delenv(config.TF_THREADS_ENV)
    every_core = training.training_key(**parts)
    assert training.training_key(tensorflow_threads=False, **parts) == fitted_elsewhere == pinned
    assert len({pinned, eight, every_core}) == 3
    monkeypatch.setenv(config.TF_THREADS_ENV, str(config.DEFAULT_THREADS))
    assert training.training_key(**parts) == pinned


def _started_here(before: set) -> set:
    """Child processes alive now that were not before (another test's pool may still be alive)."""
    return set(multiprocessing.active_children()) - before


def test_alongside_returns_each_workers_result_once_the_block_is_done():
    x = np.zeros((3, 4), dtype=np.float32)
    before = set(multiprocessing.active_children())
    with parallel.alongside(shape_after_a_nap, x, {"seconds": 0.0}, workers=2) as outcomes:
        assert outcomes == []  # filled when the block is left
    assert [{k: v for k, v in o.items() if k != "pid"} for o in outcomes] == \
        [{"ok": True, "result": (3, 4)}] * 2
    assert len({o["pid"] for o in outcomes}) == 2  # each worker's own process
    assert _started_here(before) == set()
    with parallel.alongside(shape_after_a_nap, x, {"seconds": 0.0}, workers=0) as outcomes:
        assert _started_here(before) == set()  # nothing started
    assert outcomes == []


def test_alongside_gives_each_worker_its_own_arguments_on_top_of_the_shared_ones():
    x = np.zeros((3, 4), dtype=np.float32)
    with parallel.alongside(shape_after_a_nap, x, {"seconds": 0.0}, workers=2,
                            per_worker=[{}, {"seconds": "long"}]) as outcomes:
        pass
    assert outcomes[0]["ok"] and outcomes[0]["result"] == (3, 4)
    assert not outcomes[1]["ok"] and outcomes[1]["error"].startswith("TypeError")
    with pytest.raises(ConfigError, match="per_worker has 1 entries for 2 workers"):
        with parallel.alongside(shape_after_a_nap, x, {}, workers=2, per_worker=[{}]):
            pass
    with pytest.raises(ConfigError, match="must pickle"):
        with parallel.alongside(shape_after_a_nap, x, {}, workers=1,
                                per_worker=[{"seconds": lambda: 0}]):
            pass


def test_alongside_reports_a_workers_error_and_stops_its_workers_when_the_block_fails():
    x = np.zeros((3, 4), dtype=np.float32)
    before = set(multiprocessing.active_children())
    with parallel.alongside(shape_after_a_nap, x, {"seconds": "long"}, workers=1) as outcomes:
        pass
    assert not outcomes[0]["ok"] and outcomes[0]["error"].startswith("TypeError")
    assert "shape_after_a_nap" in outcomes[0]["traceback"]
    # An error in the block stops the workers (they would sleep for ten minutes) and propagates.
    with pytest.raises(KeyError, match="the block's own error"):
        with parallel.alongside(shape_after_a_nap, x, {"seconds": 600.0}, workers=2):
            assert len(_started_here(before)) == 2
            raise KeyError("the block's own error")
    assert _started_here(before) == set()
    with pytest.raises(ConfigError, match="workers=-1 must be"):
        with parallel.alongside(shape_after_a_nap, x, {}, workers=-1):
            pass


def test_alongside_refuses_what_cannot_reach_a_worker_before_starting_one():
    x = np.zeros((3, 4), dtype=np.float32)
    before = set(multiprocessing.active_children())
    with pytest.raises(ConfigError, match="must pickle"):
        with parallel.alongside(shape_after_a_nap, x, {"seconds": lambda: 0}, workers=1):
            pass
    defined_in_a_notebook = type("F", (), {"__call__": lambda self: 0, "__module__": "__main__"})()
    with pytest.raises(ConfigError, match="builder=.* is defined in __main__"):
        with parallel.alongside(shape_after_a_nap, x, {"builder": defined_in_a_notebook},
                                workers=1):
            pass
    assert _started_here(before) == set()


def test_count_elsewhere_adds_another_process_models_to_the_tally():
    training.cache_tally(reset=True)
    first = training.count_elsewhere({"cached": 2, "trained": 3})
    both = training.count_elsewhere({"cached": 0, "trained": 1}, total=first)
    assert training.cache_tally(reset=True) == {"cached": 2, "trained": 4}
    # The workers' own running sum, for the sweep's record.
    assert (first, both) == ({"cached": 2, "trained": 3}, {"cached": 2, "trained": 4})
    for counts in ({"cached": -1, "trained": 0}, {"trained": 1}, {"cached": 1.5, "trained": 0}):
        with pytest.raises(training.TrainingError, match="must be"):
            training.count_elsewhere(counts)
