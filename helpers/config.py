"""Paths, the shared feature configuration, run profiles and label definitions.

Every path the project reads or writes comes from here, so notebooks and scripts run the same
from any working directory. Data roots can be set by arguments, or by the environment
variables ``SER_RAVDESS_DIR`` and ``SER_NOISE_DIR`` (``run_all.py`` passes them on).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from helpers.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

# Everything generated lives under outputs/ (git-ignored). SER_OUTPUTS_DIR lets tests write
# into a temporary folder instead of the user's results.
OUTPUTS_DIR = Path(os.environ.get("SER_OUTPUTS_DIR", PROJECT_ROOT / "outputs")).resolve()
# The folders of an outputs folder, by name: the report reads another run's folder with them.
TABLES_SUBDIR = "tables"
FIGURES_SUBDIR = "figures"
METRICS_SUBDIR = "metrics"
EXECUTED_SUBDIR = "notebooks"
TABLES_DIR = OUTPUTS_DIR / TABLES_SUBDIR
FIGURES_DIR = OUTPUTS_DIR / FIGURES_SUBDIR
MODELS_DIR = OUTPUTS_DIR / "models"
METRICS_DIR = OUTPUTS_DIR / METRICS_SUBDIR
EXECUTED_DIR = OUTPUTS_DIR / EXECUTED_SUBDIR
CACHE_DIR = Path(os.environ.get("SER_CACHE_DIR", OUTPUTS_DIR / "cache")).resolve()

# The trained models the repository ships (tracked in git, unlike outputs/models).
SHIPPED_MODELS_DIR = PROJECT_ROOT / "models"


# Folders inside the ones above. Functions, not constants: each reads its parent when called,
# so a test that points config.CACHE_DIR, MODELS_DIR or OUTPUTS_DIR elsewhere moves them too.
def features_cache_dir() -> Path:
    """Cached log-mel features (:func:`helpers.features.build_features`): ``CACHE_DIR/features``."""
    return CACHE_DIR / "features"


def functionals_cache_dir() -> Path:
    """Cached openSMILE functionals (:mod:`helpers.functionals`): ``CACHE_DIR/functionals``."""
    return CACHE_DIR / "functionals"


def model_cache_dir() -> Path:
    """Content-addressed trained models (:func:`helpers.training.train_or_load`):
    ``MODELS_DIR/cache``."""
    return MODELS_DIR / "cache"


def optuna_dir() -> Path:
    """The hyperparameter searches' SQLite database (:mod:`helpers.studies`): ``OUTPUTS_DIR/optuna``."""
    return OUTPUTS_DIR / "optuna"


def uploads_dir() -> Path:
    """Recordings uploaded in notebook 06 (:mod:`helpers.upload`): ``OUTPUTS_DIR/uploads``."""
    return OUTPUTS_DIR / "uploads"


def notebook_logs_dir() -> Path:
    """What each executed notebook wrote to stderr (``run_all.py``): ``EXECUTED_DIR/logs``."""
    return EXECUTED_DIR / "logs"

# Results files that one notebook writes and a later notebook, run_all.py or the report reads,
# by name: a table is ``TABLES_DIR / f"{name}.csv"`` (and ``.md``), a metrics file
# ``metrics_path(name)``. One spelling here, so a renamed file cannot leave a reader behind.
SKIPPED_TABLE = "skipped_files"  # notebook 01: audio files left out, and why
TABLE1 = "table1_emotion"  # notebook 03: the emotion CNN per variant and protocol
TABLE2 = "table2_tuning"  # notebook 04: the original against the tuned model
TABLE3 = "table3_gender"  # notebook 05: the gender classifier per split
CASE_STUDY_EMOTION_TABLE = "case_study_emotion"  # notebook 06
CASE_STUDY_GENDER_TABLE = "case_study_gender"  # notebook 06
CASE_STUDY_BAD_INPUT_TABLE = "case_study_bad_input"  # notebook 06
FUSION_TABLE = "fusion"  # notebook 07: emotion with and without the speaker's gender
DATA_METRICS = "01_data"
VARIANTS_METRICS = "02_variants"
EMOTION_METRICS = "03_emotion"
TUNING_METRICS = "04_tuning"
GENDER_METRICS = "05_gender"
CASE_STUDIES_METRICS = "06_case_studies"
FUSION_METRICS = "07_fusion"

# The embedded default: a synthetic corpus generated once in the datasets' own layouts.
STANDIN_DIR = Path(os.environ.get("SER_STANDIN_DIR", DATA_DIR / "standin")).resolve()


def standin_dirs(root: Path) -> tuple[Path, Path]:
    """The speech and noise folders of a stand-in corpus at ``root``: ``root/ravdess`` and
    ``root/urbansound8k``, in the two datasets' own layouts."""
    return root / "ravdess", root / "urbansound8k"


STANDIN_RAVDESS_DIR, STANDIN_NOISE_DIR = standin_dirs(STANDIN_DIR)

SEED = 42

# RAVDESS emotion codes 01..08 in order; the model's label order is this tuple.
EMOTIONS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
)
INTENSITIES = {1: "normal", 2: "strong"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
GENDERS: tuple[str, ...] = ("male", "female")  # odd actor numbers are male, even female

# The five dataset variants of the original study; "aggregation" is the union of the other four.
NOISE_VARIANTS: tuple[str, ...] = ("clean", "white", "urban", "white_urban")
VARIANTS: tuple[str, ...] = NOISE_VARIANTS + ("aggregation",)


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """One log-mel front end shared by every model in the project.

    The window starts ``offset_s`` into each clip (RAVDESS clips open with ~0.5 s of silence)
    and lasts ``duration_s``; shorter clips are zero-padded at the end.
    """

    sample_rate: int = 16_000
    offset_s: float = 0.5
    duration_s: float = 3.0
    n_fft: int = 1024
    win_length: int = 640  # 40 ms at 16 kHz: long enough to resolve low male pitch harmonics
    hop_length: int = 320  # 20 ms at 16 kHz: 151 frames per 3 s keeps CPU training affordable
    window: str = "hann"
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8_000.0
    amin: float = 1e-10  # power floor before the log: -100 dB

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate={self.sample_rate} must be positive")
        if not 0 < self.win_length <= self.n_fft:
            raise ConfigError(f"win_length={self.win_length} must be in (0, n_fft={self.n_fft}]")
        if self.hop_length <= 0:
            raise ConfigError(f"hop_length={self.hop_length} must be positive")
        if self.duration_s <= 0 or self.offset_s < 0:
            raise ConfigError(
                f"duration_s={self.duration_s} must be > 0 and offset_s={self.offset_s} >= 0"
            )
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ConfigError(
                f"fmin={self.fmin}, fmax={self.fmax} must satisfy 0 <= fmin < fmax <= sr/2"
            )

    @property
    def n_samples(self) -> int:
        """Samples in the analysis window."""
        return int(round(self.duration_s * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """Frames of a centred STFT over the window."""
        return 1 + self.n_samples // self.hop_length

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Model input shape ``(n_mels, n_frames, 1)``."""
        return (self.n_mels, self.n_frames, 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"feature configuration has unknown keys {sorted(unknown)}")
        return cls(**values)

    def fingerprint(self) -> str:
        """Short stable hash of the configuration, used in cache keys."""
        return stable_hash(self.to_dict())


FEATURES = FeatureConfig()


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much work a run does. ``smoke`` is for tests, ``quick`` the default, ``full`` real."""

    name: str
    clips_per_actor: int | None  # None: all 60 clips of every actor
    max_epochs: int
    early_stopping_patience: int
    n_folds: int  # speaker-independent folds over the 24 actors
    batch_size: int = 50
    sweep_trials_per_stage: int = 6
    gender_epochs: int = 15
    gender_steps_per_epoch: int | None = 8
    # Caps for the functionals recipes (``ours``): None keeps the recipe's own settings.
    recipe_epochs: int | None = None
    recipe_ensemble: int | None = None
    # False drops a functionals recipe's perturbed copies (speeds, multi-condition copies, and
    # so test-time speed averaging): ``smoke`` extracts one set of functionals per clip.
    recipe_copies: bool = True
    # The nested search of ``ours`` (notebook 04): finished trials per outer fold (the untuned
    # trial included) and inner folds each trial is scored on.
    ours_sweep_trials: int = 10
    ours_sweep_inner_folds: int = 2


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", clips_per_actor=2, max_epochs=1, early_stopping_patience=1,
                     n_folds=2, sweep_trials_per_stage=2, gender_epochs=1,
                     gender_steps_per_epoch=2, recipe_epochs=3, recipe_ensemble=1,
                     recipe_copies=False, ours_sweep_trials=2, ours_sweep_inner_folds=1),
    "quick": Profile("quick", clips_per_actor=8, max_epochs=6, early_stopping_patience=3,
                     n_folds=3, sweep_trials_per_stage=3, gender_epochs=5,
                     gender_steps_per_epoch=8, recipe_epochs=20, recipe_ensemble=2,
                     ours_sweep_trials=4),
    "full": Profile("full", clips_per_actor=None, max_epochs=200, early_stopping_patience=3,
                    n_folds=6, sweep_trials_per_stage=8, gender_epochs=15,
                    gender_steps_per_epoch=8),
}


def get_profile(name: str) -> Profile:
    """Return the named run profile.

    Raises
    ------
    ConfigError
        If ``name`` is not one of ``PROFILES``.
    """
    if name not in PROFILES:
        raise ConfigError(f"profile={name!r} must be one of {sorted(PROFILES)}")
    return PROFILES[name]


def resolve_data_roots(ravdess: str | os.PathLike | None = None,
                       noise: str | os.PathLike | None = None) -> tuple[Path, Path, bool]:
    """Choose the RAVDESS and noise roots: arguments, then environment, then the stand-in.

    Returns
    -------
    ravdess_root, noise_root : Path
    standin : bool
        True when either root is the generated stand-in corpus (it is generated on demand).
    """
    ravdess = ravdess or os.environ.get("SER_RAVDESS_DIR") or None
    noise = noise or os.environ.get("SER_NOISE_DIR") or None
    ravdess_root = Path(ravdess).expanduser().resolve() if ravdess else STANDIN_RAVDESS_DIR
    noise_root = Path(noise).expanduser().resolve() if noise else STANDIN_NOISE_DIR
    return ravdess_root, noise_root, ravdess is None or noise is None


def metrics_path(name: str) -> Path:
    """The metrics file of a notebook: ``METRICS_DIR / f"{name}.json"`` (e.g. ``EMOTION_METRICS``)."""
    return METRICS_DIR / f"{name}.json"


def stable_hash(obj) -> str:
    """SHA-256 (16 hex digits) of a JSON-serialisable object with sorted keys."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def output_dirs() -> tuple[Path, ...]:
    """The folders a run writes into (read when called, so a test's redirection holds)."""
    return TABLES_DIR, FIGURES_DIR, MODELS_DIR, METRICS_DIR, EXECUTED_DIR, CACHE_DIR


def ensure_output_dirs() -> None:
    """Create the output folders (idempotent).

    Raises
    ------
    helpers.errors.OutputError
        Naming the folder that cannot be created (a file in the way, no permission, a full or
        read-only disk).
    """
    from helpers.errors import OutputError

    for folder in output_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            variable = "SER_CACHE_DIR" if folder == CACHE_DIR else "SER_OUTPUTS_DIR"
            raise OutputError(f"{folder}: cannot be created ({error.strerror or error}); set "
                              f"{variable} to a writable folder") from error


# ----------------------------------------------------------------------------------------------
# Compute precision of the log-mel CNNs (helpers.models)
# ----------------------------------------------------------------------------------------------

#: Environment variable that sets the CNNs' default precision (``python run_all.py --precision``).
PRECISION_ENV = "SER_PRECISION"
PRECISIONS = ("auto", "float32", "bfloat16")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_has_bfloat16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """True when the CPU lists native bfloat16 arithmetic (:data:`BFLOAT16_FLAGS`).

    Reads the ``flags`` line of a Linux ``/proc/cpuinfo``; False where there is none (other
    systems), so those stay in float32.
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return bool(BFLOAT16_FLAGS & set(value.split()))
    return False


def precision_setting() -> str:
    """The ``SER_PRECISION`` setting (``auto`` when unset).

    Raises
    ------
    ConfigError
        If it is set to something other than :data:`PRECISIONS`.
    """
    value = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
    if value not in PRECISIONS:
        raise ConfigError(f"{PRECISION_ENV}={os.environ[PRECISION_ENV]!r} must be one of "
                          f"{', '.join(PRECISIONS)}")
    return value


def default_mixed_precision() -> bool:
    """Whether the CNN builders compute in bfloat16 when not told: ``SER_PRECISION``, and for
    ``auto`` whether the CPU has bfloat16 instructions (:func:`cpu_has_bfloat16`)."""
    setting = precision_setting()
    return cpu_has_bfloat16() if setting == "auto" else setting == "bfloat16"


def cnn_precision() -> str:
    """``"bfloat16"`` or ``"float32"``: what the CNN builders compute in when not told
    (:func:`default_mixed_precision`)."""
    return "bfloat16" if default_mixed_precision() else "float32"


def describe_precision() -> dict:
    """JSON-ready: the setting, what the CNNs compute in, and whether the CPU has bfloat16."""
    return {"setting": precision_setting(), "cnn_compute": cnn_precision(),
            "cpu_bfloat16": cpu_has_bfloat16()}


# ----------------------------------------------------------------------------------------------
# Threads of each model, and trainings run side by side (helpers.parallel)
# ----------------------------------------------------------------------------------------------

#: Environment variable: the threads each Keras-trained model computes on (TensorFlow's intra-op
#: threads); L-BFGS solves use :data:`LBFGS_THREADS`.
THREADS_ENV = "SER_THREADS"
#: The default: what a 2-core machine (the CI, a free cloud notebook) uses anyway. A training's
#: floating-point sums are split by thread, so the trained weights depend on this number: pinned,
#: the same inputs give the same models on any machine, whatever its number of cores.
DEFAULT_THREADS = 2
#: Environment variable: how many trainings run at once (``python run_all.py --jobs``).
JOBS_ENV = "SER_JOBS"
#: TensorFlow's own variable for its intra-op threads, read when it starts computing.
TF_THREADS_ENV = "TF_NUM_INTRAOP_THREADS"
#: Threads of an L-BFGS solve (:func:`helpers.training.solve_logistic`: its BLAS and OpenMP
#: pools), whatever ``SER_THREADS`` says: one, so that its weights do not depend on the
#: machine's number of cores (other thread counts take other iterate paths), and because its
#: matrices are too small for threads to pay (on a 2-core Xeon the one-thread solve took half
#: the time of the two-thread one). The baselines (:mod:`helpers.baselines`) keep the libraries'
#: defaults.
LBFGS_THREADS = 1


def _whole_number_setting(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"{name}={raw!r} must be a whole number >= {minimum}")
    return value


def training_threads() -> int:
    """``SER_THREADS`` (default :data:`DEFAULT_THREADS`); 0 leaves TensorFlow's default (every
    core), and then the trained weights depend on the machine's number of cores.

    Raises
    ------
    ConfigError
        If it is set to something other than a whole number >= 0.
    """
    return _whole_number_setting(THREADS_ENV, DEFAULT_THREADS, minimum=0)


def jobs() -> int:
    """``SER_JOBS``: how many trainings run at once, each in its own process (default 1).

    Raises
    ------
    ConfigError
        If it is set to something other than a whole number >= 1.
    """
    return _whole_number_setting(JOBS_ENV, 1, minimum=1)


def pin_threads() -> None:
    """Tell TensorFlow to compute on :func:`training_threads` threads (``TF_NUM_INTRAOP_THREADS``),
    unless that variable is already set. Called when :mod:`helpers` is imported: TensorFlow reads
    the variable when it first computes, so a process that computed before importing
    ``helpers`` keeps its own setting (:func:`describe_threads` says which)."""
    threads = training_threads()
    if threads > 0:
        os.environ.setdefault(TF_THREADS_ENV, str(threads))


def describe_threads() -> dict:
    """JSON-ready: ``SER_THREADS``, ``TF_NUM_INTRAOP_THREADS`` as this process has it, the
    L-BFGS solves' threads (:data:`LBFGS_THREADS`), and jobs."""
    return {"setting": training_threads(), "tensorflow_intra_op": os.environ.get(TF_THREADS_ENV),
            "lbfgs": LBFGS_THREADS, "jobs": jobs()}
