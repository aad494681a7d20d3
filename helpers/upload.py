"""The upload widget of notebook 06: upload recordings, see their predictions.

One concern: the notebook front end of :class:`helpers.predict.Predictor`, which does all the
predicting. It sits beside :mod:`helpers.widgets` (notebook 04's tuning panel) rather than in
it, so that notebook 06 does not import the panel's Keras and training code. ``ipywidgets``
and IPython are imported only when the widget is made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from helpers import audio, config, predict

__all__ = ["upload_widget"]

#: The speaker name the files of a "one speaker" upload are given.
ONE_SPEAKER = "you"


def upload_widget(predictor: predict.Predictor, *, folder: str | os.PathLike | None = None,
                  one_speaker: bool = False):
    """Let a notebook user upload recordings and see their predictions.

    In Jupyter this returns an ``ipywidgets`` file-upload box whose callback saves each upload
    under ``folder`` and shows the prediction table and an audio player. In Google Colab, where
    that widget cannot read files, it opens Colab's own upload dialog (``files.upload``) and
    shows the same, returning None.

    When the emotion model can be adapted to a speaker (a functionals model, such as the shipped
    one: :meth:`helpers.predict.Predictor.check_speaker_adaptive`), the box also has a "one
    speaker" check box: the files of one upload are then predicted as one speaker's
    (:meth:`helpers.predict.Predictor.predict_speakers`: emotion with that speaker's own
    statistics, gender one decision for all of them), which on voices the models have not heard
    is worth much more than one clip alone (the README measures it). It needs at least
    :data:`helpers.predict.MIN_SPEAKER_FILES` files in the upload that can be predicted; with
    fewer, each is predicted alone, said under the table. The box applies to the uploads after
    it is ticked.

    Parameters
    ----------
    predictor : helpers.predict.Predictor
    folder : path, optional
        Where uploads are saved; default :func:`helpers.config.uploads_dir`.
    one_speaker : bool
        Start with the "one speaker" box ticked (in Colab: predict the upload that way).

    Raises
    ------
    helpers.predict.PredictionError
        If ``one_speaker`` is asked of an emotion model that cannot be adapted to a speaker.
    """
    from IPython.display import Audio, display

    folder = Path(folder) if folder is not None else config.uploads_dir()
    try:
        predictor.check_speaker_adaptive()
        adaptable = True
    except predict.PredictionError:
        if one_speaker:
            raise
        adaptable = False

    def show(named_contents: dict[str, bytes], as_one_speaker: bool) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, content in named_contents.items():
            target = folder / (Path(name).name or "upload")  # no folders from the browser's name
            target.write_bytes(bytes(content))
            paths.append(target)
        if not paths:  # Colab's dialog cancelled
            return
        notes = []
        predictions = predictor.predict_files(paths)
        if as_one_speaker:
            if sum(p.ok for p in predictions) < predict.MIN_SPEAKER_FILES:
                notes.append(f"one speaker: needs at least {predict.MIN_SPEAKER_FILES} files that can be "
                             f"predicted in one upload; {'this file was' if len(paths) == 1 else 'these files were'} "
                             f"predicted alone")
            else:
                predictions = predictor.predict_speakers(paths, [ONE_SPEAKER] * len(paths), single=predictions)
                notes.extend(predict.speaker_notes(predictions))
        display(_upload_table(predictions))
        for note in notes:
            print(note)
        for path, prediction in zip(paths, predictions):
            if prediction.ok:
                display(Audio(filename=str(path)))

    if "google.colab" in sys.modules:
        from google.colab import files  # type: ignore[import-not-found]

        show(files.upload(), one_speaker)
        return None

    import ipywidgets as widgets

    accept = ",".join(sorted(audio.AUDIO_SUFFIXES)) + ",audio/*"
    upload = widgets.FileUpload(accept=accept, multiple=True, description="Upload audio")
    output = widgets.Output()
    speaker_box = widgets.Checkbox(
        value=one_speaker, indent=False, layout=widgets.Layout(width="auto"),
        description="One speaker: adapt to the voice (2 files or more in one upload)",
        tooltip="predict the files of each upload (from the next one on) as one speaker's, with that "
                "speaker's own statistics")

    def on_upload(change) -> None:
        with output:
            output.clear_output()
            show({item["name"]: item["content"] for item in change["new"]},
                 adaptable and speaker_box.value)

    upload.observe(on_upload, names="value")
    return widgets.VBox([upload, speaker_box, output] if adaptable else [upload, output])


def _upload_table(predictions: Sequence[predict.Prediction]) -> pd.DataFrame:
    """The upload box's table: one row per file, named by its file name.

    The saved path is long and the same folder for every upload: in a browser it pushed the
    prediction out of sight behind a horizontal scroll bar. The error column is kept only
    when a file failed.
    """
    table = predict.predictions_table(predictions)
    table.insert(0, "file", [Path(path).name for path in table["path"]])
    # One upload is one speaker at most: the notes under the table say what was done.
    table = table.drop(columns=["path", "ok", "windows", "mode", "speaker"]).set_index("file")
    if table["error"].isna().all():
        table = table.drop(columns=["error"])
    return table.round(3)
