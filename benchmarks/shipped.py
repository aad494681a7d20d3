"""Size and speed of the shipped models: what a user pays to predict right after install.

    python -m benchmarks.shipped [--clips 10] [--seconds 4]

Prints the size of ``models/`` (target: at most 20 MB), the time to load both models, and the
latency of predicting one new clip of ``--seconds`` seconds (target: at most 1 s on a 2-core
CPU after loading), median and worst over ``--clips`` clips. Each clip is a different generated
voice-like signal at 16 kHz, so no clip is served from the functionals cache. Its last line is
JSON: ``folder_bytes``, ``load_seconds``, ``warm_up_seconds``, ``latency_median_s``,
``latency_max_s``, ``clips``, ``clip_seconds``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from helpers import pretrained


def voice_like(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A harmonic tone with a wandering pitch and a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(100, 240) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    y = sum(np.sin(k * phase) / k for k in range(1, 15))
    y *= 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t))
    return (0.1 * y / np.max(np.abs(y)) + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shipped", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    from helpers import config, predict

    folder_bytes = sum(p.stat().st_size for p in pretrained.SHIPPED_DIR.iterdir() if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        # A private outputs folder: the functionals cache starts empty, as after install.
        config.CACHE_DIR = Path(tmp) / "cache"
        started = time.perf_counter()
        predictor = predict.Predictor.load(models_dir=Path(tmp) / "no_models")
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predictor.warm_up()
        warm_up_seconds = time.perf_counter() - started
        latencies = []
        for k in range(args.clips):
            path = Path(tmp) / f"clip{k}.wav"
            soundfile.write(path, voice_like(args.seconds, 16_000, seed=k), 16_000)
            started = time.perf_counter()
            prediction = predictor.predict_file(path)
            latencies.append(time.perf_counter() - started)
            print(f"{path.name}: {prediction.emotion} ({prediction.gender}) in {latencies[-1]:.3f} s", file=sys.stderr)
    line = {"folder_bytes": folder_bytes, "load_seconds": round(load_seconds, 3),
            "warm_up_seconds": round(warm_up_seconds, 3),
            "latency_median_s": round(statistics.median(latencies), 3),
            "latency_max_s": round(max(latencies), 3), "clips": args.clips, "clip_seconds": args.seconds}
    print(f"models/ {folder_bytes / 1e6:.2f} MB (target <= 20 MB); load {load_seconds:.2f} s; "
          f"latency median {line['latency_median_s']:.3f} s, worst {line['latency_max_s']:.3f} s "
          f"(target <= 1 s)")
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
