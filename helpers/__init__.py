"""Speech emotion and speaker gender classification on RAVDESS: the shared helper package.

Data flows one way: files (``datasets``, ``standin``) → audio (``audio``, ``augment``)
→ features (``features``) → models (``models``, ``training``) → metrics (``evaluation``).
Every path comes from ``helpers.config``.

The modules, in data-flow order, one line each on what they hold:

Used everywhere
    ``config``         paths, the shared feature configuration, run profiles, label definitions
    ``errors``         the project's exceptions (``ValueError`` subclasses) and ``check_int``, ``is_int``
    ``io``             atomic writes of JSON, tables, arrays and figures; file digests, run metadata
Files
    ``standin``        the generated stand-in for RAVDESS and UrbanSound8K (eSpeak NG speech, noise)
    ``download``       resumable, checked downloads of RAVDESS and UrbanSound8K from Zenodo
    ``datasets``       find and label the datasets' files: RAVDESS, the other corpora, UrbanSound8K
    ``other_corpora``  EmoDB, TESS, SAVEE and CREMA-D file names, mapped onto the RAVDESS labels
Audio
    ``audio``          load the one way: mono, resampled, cropped or padded; broken files refused
    ``augment``        noise at a requested SNR, and the four noisy versions of a clip
    ``channel``        recording-chain changes (level, sample rate, codec, room) for robustness
Features
    ``features``       batched, cached log-mels of the five variants (``FeatureSet``, ``data_key``)
    ``functionals``    openSMILE functionals (ComParE 2016, eGeMAPS), cached per file content
    ``pipeline``       what every notebook does first: pick the data and profile, load the features
Models and training
    ``splits``         train/validation/test splits: the original protocol and leak-free ones
    ``models``         Keras builders: emotion CNN, emotion + gender fusion CNN, gender CNN, MLP
    ``recipes``        how a model is trained, as data: ``Recipe`` values (``original``, ``ours``)
    ``training``       fit, the content-addressed model cache, the recipe training path, predict
    ``model_files``    a model and its sidecar on disk, written as one unit, read back and checked
    ``parallel``       several trainings at once, in worker processes that fill the model cache
Studies
    ``experiments``    the emotion model on one variant under one evaluation protocol (Table 1)
    ``studies``        resumable Optuna studies: storage, names, grid stages that re-queue and wait
    ``tuning``         the original's two-stage tuning as resumable Optuna studies (Table 2)
    ``ours_search``    a nested, speaker-independent Optuna search that tunes ``ours``
    ``gender``         the gender classifier on actor splits, and its summaries (Table 3)
    ``fusion``         the speaker's gender given to the emotion CNN, paired with the plain CNN
    ``fusion_ours``    the same question for ``ours``: gender fusion and per-gender normalisation
    ``baselines``      the field's classical baselines: openSMILE functionals + scikit-learn
    ``crosscorpus``    models trained on RAVDESS, scored on other corpora over their shared classes
Metrics and results
    ``evaluation``     metrics (the original's and standard ones), paired per-fold differences with
                       their t-interval, and the report's published tables
    ``plots``          the figures the notebooks show and save
    ``report``         ``outputs/report.md`` and ``report.html``, built from the results files
Using the models
    ``predict``        ``Predictor``: load the saved models, predict emotion and gender of any audio file
    ``predict_cli``    the command ``python -m helpers.predict``: arguments, output, exit status
    ``pretrained``     build and verify the shipped models in ``models/`` and their model card
    ``widgets``        the interactive panel that trains with chosen dropout and learning rate
    ``upload``         notebook 06's upload box: upload recordings, see their predictions
"""

__version__ = "0.1.0"

from helpers import config as _config  # noqa: E402

# Before TensorFlow first computes: every model then trains on the same number of threads on any
# machine, so the same inputs give the same weights (helpers.config.DEFAULT_THREADS).
_config.pin_threads()
