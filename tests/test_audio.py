"""Audio loading on small generated files: librosa parity, window length, refused files."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from conftest import tone_noise, write_clip
from helpers import audio, config
from helpers.errors import AudioError, ConfigError

FEATURES = config.FEATURES


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """Cut a file's bytes to ``fraction`` of its size, as an interrupted download would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.fixture(params=["mono_48k_pcm16.wav", "stereo_44k1.flac", "mono_48k_pcm24.wav",
                        "mono_22k05_float.wav"])
def audio_file(request, tmp_path) -> Path:
    """One clip of each kind the loader must match librosa on."""
    settings = {
        "mono_48k_pcm16.wav": dict(sample_rate=48_000, subtype="PCM_16"),
        "stereo_44k1.flac": dict(sample_rate=44_100, channels=2),
        "mono_48k_pcm24.wav": dict(sample_rate=48_000, subtype="PCM_24"),
        "mono_22k05_float.wav": dict(sample_rate=22_050, subtype="FLOAT"),
    }[request.param]
    return write_clip(tmp_path / request.param, duration_s=2.0, **settings)


@pytest.mark.parametrize("offset_s, duration_s", [(0.0, None), (0.5, 3.0), (0.5, 1.0), (0.3333, 0.7)])
def test_load_audio_equals_librosa_load(audio_file, offset_s, duration_s):
    y = audio.load_audio(audio_file, sample_rate=16_000, offset_s=offset_s, duration_s=duration_s)
    expected, rate = librosa.load(audio_file, sr=16_000, offset=offset_s, duration=duration_s)

    assert rate == 16_000
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.shape == expected.shape
    assert np.array_equal(y, expected)


def test_load_audio_without_resampling_returns_the_samples(tmp_path):
    path = write_clip(tmp_path / "a.wav", sample_rate=16_000, subtype="FLOAT")

    y = audio.load_audio(path, sample_rate=16_000)

    assert np.array_equal(y, soundfile.read(path, dtype="float32")[0])


def test_load_audio_stereo_is_the_channel_mean(tmp_path):
    path = write_clip(tmp_path / "s.wav", sample_rate=16_000, channels=2, subtype="FLOAT")
    stereo, _ = soundfile.read(path, dtype="float32")

    y = audio.load_audio(path, sample_rate=16_000)

    np.testing.assert_allclose(y, stereo.mean(axis=1), atol=1e-7)


def test_resample_equals_librosa_resample():
    y = tone_noise(12_345, 48_000, frequency=440.0, seed=1)

    out = audio.resample(y, native_rate=48_000, sample_rate=16_000)

    assert np.array_equal(out, librosa.resample(y, orig_sr=48_000, target_sr=16_000, res_type="soxr_hq"))
    assert out.shape == (int(np.ceil(12_345 / 3)),)


def test_fix_length_pads_with_zeros_and_crops():
    y = np.arange(1, 6, dtype=np.float32)

    assert np.array_equal(audio.fix_length(y, 8), [1, 2, 3, 4, 5, 0, 0, 0])
    assert np.array_equal(audio.fix_length(y, 3), [1, 2, 3])
    assert audio.fix_length(y, 5) is y
    assert audio.fix_length(y, 0).shape == (0,)
    batch = np.ones((2, 4), dtype=np.float32)
    assert np.array_equal(audio.fix_length(batch, 6), librosa.util.fix_length(batch, size=6))
    with pytest.raises(ConfigError, match="size=-1"):
        audio.fix_length(y, -1)


@pytest.mark.parametrize("duration_s", [1.5, 5.0])
def test_load_window_has_the_feature_length(tmp_path, duration_s):
    path = write_clip(tmp_path / "clip.wav", duration_s=duration_s)
    expected, _ = librosa.load(path, sr=FEATURES.sample_rate, offset=FEATURES.offset_s,
                               duration=FEATURES.duration_s)

    y = audio.load_window(path)

    assert y.shape == (FEATURES.n_samples,) and y.dtype == np.float32
    n = min(len(expected), FEATURES.n_samples)
    assert np.array_equal(y[:n], expected[:n])
    # A 1.5 s clip leaves 1.0 s after the 0.5 s offset; the rest of the window is zeros.
    assert not np.any(y[n:])
    if duration_s == 1.5:
        assert n == FEATURES.sample_rate


def test_load_window_follows_a_feature_config(tmp_path):
    path = write_clip(tmp_path / "clip.wav", duration_s=1.5)
    short = config.FeatureConfig(sample_rate=8_000, offset_s=0.0, duration_s=0.25, n_fft=256,
                                 win_length=256, hop_length=64, fmax=4_000.0)

    y = audio.load_window(path, feature_config=short)

    assert y.shape == (2_000,)
    assert np.array_equal(y, librosa.load(path, sr=8_000, duration=0.25)[0])


def test_audio_info_reads_the_header(tmp_path):
    path = write_clip(tmp_path / "clip.flac", sample_rate=44_100, channels=2, duration_s=1.0)

    info = audio.audio_info(path)

    assert (info.samplerate, info.channels, info.frames) == (44_100, 2, 44_100)


# --- refused files --------------------------------------------------------------------------

def _zero_bytes(folder: Path) -> Path:
    path = folder / "empty.wav"
    path.write_bytes(b"")
    return path


def _header_only(folder: Path) -> Path:
    path = folder / "header_only.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), 48_000, subtype="PCM_16")
    assert path.stat().st_size == 44
    return path


def _truncated_wav(folder: Path) -> Path:
    return truncate(write_clip(folder / "truncated.wav", subtype="PCM_16"))


def _truncated_wav_24bit(folder: Path) -> Path:
    return truncate(write_clip(folder / "truncated24.wav", subtype="PCM_24"))


def _truncated_flac(folder: Path) -> Path:
    return truncate(write_clip(folder / "truncated.flac"))


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4_096))
    return path


def _garbage_flac(folder: Path) -> Path:
    path = folder / "garbage.flac"
    path.write_bytes(b"fLaC" + np.random.default_rng(1).bytes(4_096))
    return path


def _shorter_than_fft(folder: Path) -> Path:
    # 3000 samples at 48 kHz are 1000 at 16 kHz, under one 1024-sample frame.
    return write_clip(folder / "short.wav", duration_s=3_000 / 48_000)


def _ends_before_offset(folder: Path) -> Path:
    return write_clip(folder / "before_offset.wav", duration_s=0.4)


def _silent(folder: Path) -> Path:
    path = folder / "silent.wav"
    soundfile.write(path, np.zeros(48_000, dtype=np.float32), 48_000, subtype="PCM_16")
    return path


def _nan_samples(folder: Path) -> Path:
    y = tone_noise(48_000, 48_000, frequency=300.0, seed=0)
    y[30_000] = np.nan  # inside the window, which starts at 0.5 s (sample 24000)
    path = folder / "nan.wav"
    soundfile.write(path, y, 48_000, subtype="FLOAT")
    return path


def _inf_samples(folder: Path) -> Path:
    y = tone_noise(48_000, 48_000, frequency=300.0, seed=0)
    y[40_000] = -np.inf
    path = folder / "inf.wav"
    soundfile.write(path, y, 48_000, subtype="FLOAT")
    return path


def _silent_in_window(folder: Path) -> Path:
    # Signal in the first 0.4 s only: the window from 0.5 s is digital silence.
    y = tone_noise(72_000, 48_000, frequency=300.0, seed=3)
    y[int(0.4 * 48_000):] = 0
    path = folder / "silent_in_window.wav"
    soundfile.write(path, y, 48_000, subtype="FLOAT")
    return path


def _above_nyquist_in_window(folder: Path) -> Path:
    # Speech-like signal before the window; inside it only a faint 12 kHz tone, which the
    # resampler to 16 kHz removes: silent as the features see it, not at the file's own rate.
    y = tone_noise(72_000, 48_000, frequency=300.0, seed=4)
    t = np.arange(72_000) / 48_000
    y[int(0.4 * 48_000):] = (HIGH_TONE_PEAK * np.sin(2 * np.pi * 12_000 * t))[int(0.4 * 48_000):]
    path = folder / "above_nyquist_in_window.wav"
    soundfile.write(path, y, 48_000, subtype="FLOAT")
    return path


def _missing(folder: Path) -> Path:
    return folder / "missing.wav"


def _directory(folder: Path) -> Path:
    path = folder / "a_folder.wav"
    path.mkdir()
    return path


# Above audio.SILENCE_PEAK at 48 kHz. Resampled to 16 kHz the tone is gone; only the cut at the
# window's start leaves a click of about a fifth of its peak, still below SILENCE_PEAK.
HIGH_TONE_PEAK = 3e-6

UNUSABLE = [
    (_zero_bytes, "empty file (0 bytes)"),
    (_header_only, "header only: the file holds no audio frames"),
    (_truncated_wav, "truncated: the header declares 72000 frames"),
    (_truncated_wav_24bit, "truncated: the header declares 72000 frames"),
    (_truncated_flac, "truncated"),
    (_garbage, "not a readable audio file"),
    (_garbage_flac, "not a readable audio file"),
    (_shorter_than_fft, "less than one FFT frame (1024 samples at 16000 Hz)"),
    (_ends_before_offset, "ends before the window offset 0.5 s"),
    (_silent, "all-silent"),
    (_nan_samples, "non-finite samples"),
    (_inf_samples, "non-finite samples"),
    (_silent_in_window, "all-silent: the analysed window has no signal"),
    (_above_nyquist_in_window, "all-silent: the analysed window has no signal"),
    (_missing, "file not found"),
    (_directory, "file not found"),
]


@pytest.mark.parametrize("make, reason", UNUSABLE)
def test_bad_file_raises_audio_error_with_path_and_reason(tmp_path, make, reason):
    path = make(tmp_path)

    with pytest.raises(AudioError) as caught:
        audio.load_window(path)

    assert caught.value.path == str(path)
    assert reason in caught.value.reason
    assert str(caught.value) == f"{path}: {caught.value.reason}"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("make, reason", UNUSABLE)
def test_check_window_refuses_every_file_load_window_refuses(tmp_path, make, reason):
    """What the manifest checks (check_window, one decode of the whole file) refuses every file
    the feature computation (load_window) would refuse, with the same reason: a clip that
    passes the manifest gives features."""
    path = make(tmp_path)

    with pytest.raises(AudioError) as caught:
        audio.check_window(path)

    assert caught.value.path == str(path)
    assert reason in caught.value.reason


@pytest.mark.parametrize("make", [_ends_before_offset, _silent_in_window, _above_nyquist_in_window])
def test_a_file_unusable_only_in_the_window_passes_the_whole_file_check(tmp_path, make):
    """These files are sound as a whole (check_audio's default window is the whole file); only
    the training window's offset or content makes them unusable."""
    path = make(tmp_path)

    assert audio.check_audio(path).samplerate == 48_000
    assert audio.load_audio(path).size > 0


@pytest.mark.parametrize("offset_s, duration_s", [(0.0, None), (0.5, 3.0), (1.0, 0.5)])
def test_check_audio_passes_what_load_audio_loads(audio_file, offset_s, duration_s):
    """Good files of every kind pass the check for any window inside them, and load."""
    info = audio.check_audio(audio_file, offset_s=offset_s, duration_s=duration_s)

    assert info.frames == soundfile.info(audio_file).frames
    assert audio.load_audio(audio_file, offset_s=offset_s, duration_s=duration_s).size > 0
    assert audio.check_window(audio_file).frames == info.frames


def test_truncated_wav_reason_counts_the_frames_held(tmp_path):
    path = truncate(write_clip(tmp_path / "t.wav", subtype="PCM_16"))
    held = soundfile.info(path).frames

    with pytest.raises(AudioError, match=f"the file holds {held}$"):
        audio.load_audio(path)
    # librosa would have loaded it silently as a shorter clip.
    assert len(librosa.load(path, sr=None)[0]) == held


def test_truncated_wavex_is_refused(tmp_path):
    path = truncate(write_clip(tmp_path / "t.wav", subtype="PCM_24", format="WAVEX"))
    assert soundfile.info(path).format == "WAVEX"

    with pytest.raises(AudioError, match="truncated"):
        audio.load_audio(path)


def test_truncated_aiff_is_refused(tmp_path):
    path = truncate(write_clip(tmp_path / "t.aiff", subtype="PCM_16"))

    with pytest.raises(AudioError, match="truncated"):
        audio.load_audio(path)


def test_silence_check_can_be_turned_off(tmp_path):
    path = _silent(tmp_path)

    y = audio.load_audio(path, check_silence=False)

    assert y.shape == (16_000,) and not np.any(y)


def test_silence_is_judged_on_the_window(tmp_path):
    # Signal only in the first 0.4 s: the window from 0.5 s is silent.
    y = tone_noise(48_000, 48_000, frequency=300.0, seed=2)
    y[int(0.4 * 48_000):] = 0
    path = tmp_path / "early.wav"
    soundfile.write(path, y, 48_000, subtype="FLOAT")

    assert audio.load_audio(path).size == 16_000
    with pytest.raises(AudioError, match="all-silent"):
        audio.load_window(path)


@pytest.mark.parametrize("kwargs, name", [({"sample_rate": 0}, "sample_rate=0"),
                                          ({"offset_s": -1.0}, "offset_s=-1.0"),
                                          ({"duration_s": 0.0}, "duration_s=0.0")])
def test_load_audio_rejects_bad_arguments(tmp_path, kwargs, name):
    path = write_clip(tmp_path / "clip.wav")

    with pytest.raises(ConfigError, match=name):
        audio.load_audio(path, **kwargs)
