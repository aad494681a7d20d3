"""The robustness benchmark's recording chains, on a generated clip (no training)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from conftest import write_clip

from benchmarks import robustness
from helpers import channel
from helpers.errors import ProjectError


@pytest.mark.parametrize("name, rate", [("file-16k", 16_000), ("file-22k", 22_050), ("file-8k", 8_000)])
def test_a_file_rate_condition_delivers_the_same_speech_as_a_file_at_that_rate(tmp_path, name, rate):
    clip = write_clip(tmp_path / "clip.wav", sample_rate=48_000, duration_s=1.0, frequency=300.0)
    folder = tmp_path / name
    folder.mkdir()

    [copy] = robustness.transformed_copies([str(clip)], robustness.get_condition(name), folder, seed=0)

    delivered, delivered_rate = soundfile.read(copy, dtype="float32")
    original, _ = soundfile.read(clip, dtype="float32")
    assert delivered_rate == rate and len(delivered) == int(np.ceil(len(original) * rate / 48_000))
    # The same tone, at the same level.
    assert np.sqrt(np.mean(delivered ** 2)) == pytest.approx(np.sqrt(np.mean(original ** 2)), rel=0.02)
    assert robustness.get_condition(name).description == f"the same speech as a {rate / 1000:g} kHz file"


def test_the_channel_conditions_keep_the_files_own_rate_and_an_unknown_one_is_named(tmp_path):
    clip = write_clip(tmp_path / "clip.wav", sample_rate=48_000, duration_s=1.0)
    folder = tmp_path / "out"
    folder.mkdir()
    [copy] = robustness.transformed_copies([str(clip)], robustness.get_condition("resample-16k"), folder, seed=0)
    assert soundfile.info(copy).samplerate == 48_000
    assert robustness.get_condition("resample-16k") is channel.CONDITIONS["resample-16k"]
    # The file-rate deliveries never join the conditions the training copies are drawn from.
    assert not set(robustness.FILE_RATES) & set(channel.CONDITIONS)
    with pytest.raises(ProjectError, match="'file-12k' is unknown.*'noise-20db', 'file-8k'"):
        robustness.get_condition("file-12k")
