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


def upload_widget(predictor: predict.Predictor, *, folder: str | os.PathLike | None = None):
    """Let a notebook user upload recordings and see their predictions.

    In Jupyter this returns an ``ipywidgets`` file-upload box whose callback saves each upload
    under ``folder`` and shows the prediction table and an audio player. In Google Colab, where
    that widget cannot read files, it opens Colab's own upload dialog (``files.upload``) and
    shows the same, returning None.

    Parameters
    ----------
    predictor : helpers.predict.Predictor
    folder : path, optional
        Where uploads are saved; default :func:`helpers.config.uploads_dir`.
    """
    from IPython.display import Audio, display

    folder = Path(folder) if folder is not None else config.uploads_dir()

    def show(named_contents: dict[str, bytes]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, content in named_contents.items():
            target = folder / (Path(name).name or "upload")  # no folders from the browser's name
            target.write_bytes(bytes(content))
            paths.append(target)
        predictions = predictor.predict_files(paths)
        display(_upload_table(predictions))
        for path, prediction in zip(paths, predictions):
            if prediction.ok:
                display(Audio(filename=str(path)))

    if "google.colab" in sys.modules:
        from google.colab import files  # type: ignore[import-not-found]

        show(files.upload())
        return None

    import ipywidgets as widgets

    accept = ",".join(sorted(audio.AUDIO_SUFFIXES)) + ",audio/*"
    upload = widgets.FileUpload(accept=accept, multiple=True, description="Upload audio")
    output = widgets.Output()

    def on_upload(change) -> None:
        with output:
            output.clear_output()
            show({item["name"]: item["content"] for item in change["new"]})

    upload.observe(on_upload, names="value")
    return widgets.VBox([upload, output])


def _upload_table(predictions: Sequence[predict.Prediction]) -> pd.DataFrame:
    """The upload box's table: one row per file, named by its file name.

    The saved path is long and the same folder for every upload: in a browser it pushed the
    prediction out of sight behind a horizontal scroll bar. The error column is kept only
    when a file failed.
    """
    table = predict.predictions_table(predictions)
    table.insert(0, "file", [Path(path).name for path in table["path"]])
    table = table.drop(columns=["path", "ok", "windows"]).set_index("file")
    if table["error"].isna().all():
        table = table.drop(columns=["error"])
    return table.round(3)
