"""One worker of the smoke sweep on a shared Optuna study (run by ``test_tuning_postgres.py``).

``python tests/sweep_worker.py STORAGE_URL OUT.json [--ready DIR --workers N]`` runs the
two-stage sweep of the tiny CNN on the generated data of ``tuning_support`` and writes which
trials this process trained and what it chose. With ``--ready``, the worker waits until ``N``
workers have imported everything, so that they really start together.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import optuna  # noqa: E402

from helpers import tuning  # noqa: E402
from tests.factories import tiny_cnn  # noqa: E402
from tests.tuning_support import PROFILE, make_data  # noqa: E402

#: Three values per stage, the untuned dropout 0.25 and learning rate 0.002 among them.
SWEEP = dict(protocol="original", profile=PROFILE, seed=7, data_key="shared-sweep",
             variant="clean", n_trials=3, dropout_grid=(0.1, 0.25, 0.5),
             learning_rate_grid=(0.001, 0.002, 0.004), builder=tiny_cnn,
             pruner=optuna.pruners.NopPruner(), poll_s=0.5, max_wait_s=300.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("storage")
    parser.add_argument("out", type=Path)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x, items = make_data()

    trained = []
    real_train_trial = tuning._train_trial

    def recording_train_trial(trial, *positional, hyperparameters, **keywords):
        # Recorded once the training is done: a twin that gave way during it trained no model.
        result = real_train_trial(trial, *positional, hyperparameters=hyperparameters, **keywords)
        trained.append({"study": trial.study.study_name, "trial": trial.number,
                        **{k: float(v) for k, v in hyperparameters.items()}})
        return result

    tuning._train_trial = recording_train_trial
    if args.ready is not None:
        (args.ready / f"{os.getpid()}.ready").touch()
        deadline = time.monotonic() + 300
        while len(list(args.ready.glob("*.ready"))) < args.workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(list(args.ready.glob('*.ready')))} of "
                                 f"{args.workers} workers became ready")
            time.sleep(0.05)
    result = tuning.run_sweep(x, items, storage=args.storage,
                              cache_folder=args.out.parent / f"cache-{os.getpid()}", **SWEEP)
    stages = {stage.stage: {"study_name": stage.study_name, "best_value": stage.best_value,
                            "trials": stage.trials.drop(columns=["seconds"]).to_dict("records")}
              for stage in result.stages}
    args.out.write_text(json.dumps({"pid": os.getpid(), "best": result.best, "trained": trained,
                                    "stages": stages}, default=float))


if __name__ == "__main__":
    main()
