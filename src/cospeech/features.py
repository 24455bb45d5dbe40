"""Registry of audio feature extractors, keyed by the stored audio key (``audio/log_mel_400``).

A `FeatureExtractor` says how one audio feature is made from a 16 kHz waveform and where its frames sit in
time, so that every part of cospeech handles any registered feature the same way: the window cache computes
a feature a corpus does not store from the corpus's raw audio (`Corpus.raw_audio`), inference and export
compute the run's recorded ``DataSpec.audio_key``, and `pose_clock` aligns the frames onto the model clock.

A feature has ``bins`` values per feature frame at ``rate`` frames per second, frame 0 centred at
``offset`` seconds. On the model clock each 1/15 s pose frame carries ``subframes`` consecutive sub-frames
of ``1 / (15 · subframes)`` s side by side, so the model-facing width is ``audio_dim = subframes · bins``
(SDT's 80-band mel at ``subframes = 7`` gives 105 columns a second). ``levellable`` features are in the log
domain, where a recording gain is an additive constant (``cospeech.audio.normalize_level``).

``compute`` (NumPy, the reference path) and ``compute_torch`` (on the waveform's device, batched) agree within
float32 tolerance (``tests/test_features.py``).

>>> feature = get_feature("audio/log_mel_400")
>>> feature.bins, feature.rate, feature.audio_dim
(64, 100.0, 64)
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, TypeVar

import librosa
import numpy as np

from cospeech import audio
from cospeech.audio import SAMPLE_RATE
from cospeech.data.windows import align_to_pose_clock
from cospeech.errors import AudioError, ConfigError
from cospeech.registry import Registry

if TYPE_CHECKING:
    import torch  # imported where used: the window cache computes features without it


def recipe_text(parameters: Mapping[str, object]) -> str:
    """A recipe as canonical JSON text (sorted keys): what runs and exports record, and compare."""
    return json.dumps(dict(parameters), sort_keys=True)


class FeatureExtractor(ABC):
    """How one audio feature is computed from a 16 kHz mono waveform and where its frames sit in time.

    Subclasses set the class attributes below and implement `compute` and `compute_torch`; frame ``k``
    reads samples ``[k · hop, k · hop + n_fft)`` (``center=False``) or ``[k · hop − n_fft/2, k · hop +
    n_fft/2)`` of the reflect-padded waveform (``center=True``), which lets `compute_frames` compute any
    run of frames from the samples it needs only.
    """

    key: ClassVar[str]
    """Stored audio key (``audio/log_mel_400``)."""
    bins: ClassVar[int]
    """F of one feature frame."""
    hop: ClassVar[int]
    """Samples (at 16 kHz) between consecutive feature frames."""
    n_fft: ClassVar[int]
    """Samples one feature frame reads."""
    center: ClassVar[bool]
    """Whether frame k is centred on sample ``k · hop`` (reflect padding at both ends)."""
    offset: ClassVar[float]
    """Seconds: the time frame 0 stands for (the pose clock assigns frame k to ``offset + k / rate``)."""
    subframes: ClassVar[int] = 1
    """Feature frames per pose frame on the model clock (``15 · subframes`` Hz)."""
    levellable: ClassVar[bool]
    """Whether ``audio_level="utterance"`` applies: log-domain features, where a gain adds a constant."""
    recipe: ClassVar[str]
    """Canonical JSON text of the parameters (`recipe_text`), recorded with exports and hashed into caches."""

    @property
    def rate(self) -> float:
        """Feature frames per second at 16 kHz."""
        return SAMPLE_RATE / self.hop

    @property
    def audio_dim(self) -> int:
        """Model-facing width: ``subframes · bins``."""
        return self.subframes * self.bins

    def frame_count(self, n_samples: int) -> int:
        """Feature frames ``compute`` returns for ``n_samples`` samples (0 when too short for one)."""
        if self.center:
            return 1 + n_samples // self.hop
        return 1 + (n_samples - self.n_fft) // self.hop if n_samples >= self.n_fft else 0

    @abstractmethod
    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """``waveform`` (n,) float32 at 16 kHz → features (frame_count(n), bins) float32 (NumPy reference)."""

    @abstractmethod
    def compute_torch(self, waveform: torch.Tensor) -> torch.Tensor:
        """``waveform`` (..., n) float at 16 kHz → (..., frame_count(n), bins) float32 on its device; equal
        to `compute` within float32 tolerance."""

    def compute_frames(
        self, waveform: np.ndarray | torch.Tensor, first: int, stop: int
    ) -> np.ndarray | torch.Tensor:
        """Frames ``[first, stop)`` of ``compute(waveform)`` (an array) or ``compute_torch(waveform)`` (a
        tensor ``(..., n)``), computed from the samples they read only, so an hour of speech is featurised in
        bounded memory: ``(..., stop − first, bins)`` float32."""
        n = waveform.shape[-1]
        compute = self.compute if isinstance(waveform, np.ndarray) else self.compute_torch
        if not self.center:
            return compute(waveform[..., first * self.hop : (stop - 1) * self.hop + self.n_fft])
        half = self.n_fft // 2
        margin = -(-half // self.hop)  # frames whose windows reach back to the block's first sample
        s0 = max(first - margin, 0) * self.hop
        s1 = n if stop - 1 + margin >= self.frame_count(n) - 1 else (stop - 1) * self.hop + half
        skip = first - s0 // self.hop
        return compute(waveform[..., s0:s1])[..., skip : skip + stop - first, :]


BUILTIN_FEATURE_MODULES: tuple[str, ...] = ()
"""Modules registering further features, imported on the first registry lookup (not on import of this
module, so that they may import it); ``log_mel_400`` and ``log_mel_512`` are registered below."""

ExtractorT = TypeVar("ExtractorT", bound=type[FeatureExtractor])

_FEATURES: Registry[FeatureExtractor] = Registry("audio feature")


def register_feature(cls: ExtractorT) -> ExtractorT:
    """Class decorator: register an instance of the `FeatureExtractor` subclass ``cls`` under its ``key``.
    A key already taken raises ``ConfigError`` naming both."""
    if not (isinstance(cls, type) and issubclass(cls, FeatureExtractor)):
        raise TypeError(f"register_feature: {cls!r} is not a FeatureExtractor subclass")
    extractor = cls()
    if extractor.subframes < 1 or extractor.bins < 1 or extractor.hop < 1:
        raise ConfigError(f"{cls.__qualname__}: subframes, bins and hop must be ≥ 1")
    _FEATURES.add(cls.key, extractor, cls)
    return cls


def get_feature(key: str) -> FeatureExtractor:
    """The extractor registered for audio ``key``; an unknown key is a ``ConfigError`` listing the known."""
    _load_builtin_features()
    return _FEATURES[key]


def is_registered(key: str) -> bool:
    """Whether audio ``key`` has a registered extractor."""
    _load_builtin_features()
    return key in _FEATURES


def list_features() -> list[str]:
    """Sorted keys of the registered audio features."""
    _load_builtin_features()
    return _FEATURES.names()


def _load_builtin_features() -> None:
    for module in BUILTIN_FEATURE_MODULES:
        importlib.import_module(module)


def pose_clock(extractor: FeatureExtractor, features: np.ndarray, n_pose_frames: int) -> np.ndarray:
    """``features`` (frames, bins) of ``extractor`` on the model clock: ``(T, subframes · bins)``.

    Feature frames are averaged onto a ``15 · subframes`` Hz clock (frame k at ``offset + k / rate`` s; a
    sub-frame with none takes the nearest), and the sub-frames of one pose frame are packed side by side,
    ``[sub0 bins…, sub1 bins…, …]`` (``cospeech.data.windows.align_to_pose_clock``; ``subframes = 1`` is
    exactly the training cache's alignment).
    """
    return align_to_pose_clock(
        features, n_pose_frames, rate=extractor.rate, offset=extractor.offset, subframes=extractor.subframes
    )


def _hann(window: int, device: torch.device) -> torch.Tensor:
    import torch

    return torch.hann_window(window, periodic=True, dtype=torch.float32, device=device)  # librosa's "hann"


@lru_cache(maxsize=8)
def _mel_filters(
    n_fft: int, n_mels: int, fmin: float, fmax: float | None, norm: str | None, htk: bool = False
) -> np.ndarray:
    """librosa's mel filterbank (n_mels, 1 + n_fft / 2) at 16 kHz, Slaney or HTK scale, computed once."""
    return librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm
    )


def _torch_log_mel(
    waveform: torch.Tensor,
    extractor: FeatureExtractor,
    *,
    window: int,
    power: float,
    filters: np.ndarray,
    floor: float | None,
) -> torch.Tensor:
    """(..., n) → (..., frames, bins): |STFT|^power, mel filterbank, exact zeros → ``floor``, natural log
    (``floor=None``: the linear mel, no log)."""
    import torch

    if waveform.shape[-1] == 0 or extractor.frame_count(waveform.shape[-1]) == 0:
        return waveform.new_zeros((*waveform.shape[:-1], 0, extractor.bins), dtype=torch.float32)
    lead = waveform.shape[:-1]
    x = waveform.reshape(-1, waveform.shape[-1]).float()
    spectrum = torch.stft(
        x,
        n_fft=extractor.n_fft,
        hop_length=extractor.hop,
        win_length=window,
        window=_hann(window, x.device),
        center=extractor.center,
        pad_mode="reflect",
        return_complex=True,
    )
    # |z| as hypot of the parts: the same values as ``.abs()``, 3× as fast on the CPU (torch 2.13)
    spectrum = torch.hypot(*torch.view_as_real(spectrum).unbind(-1))  # (B, 1 + n_fft / 2, frames)
    if power != 1.0:
        spectrum = spectrum.pow(power)
    mel = torch.from_numpy(filters).to(x.device) @ spectrum  # (B, bins, frames)
    if floor is not None:
        mel = torch.where(mel == 0, torch.full_like(mel, floor), mel).log()
    return mel.transpose(1, 2).reshape(*lead, -1, extractor.bins)


@register_feature
class LogMel400(FeatureExtractor):
    """PATS ``audio/log_mel_400`` (``cospeech.audio.log_mel_400``; reference notes §2.1): 64 log-mel bands
    of the magnitude STFT (n_fft 512, 400-sample Hann window, hop 160, uncentred) at 100 Hz."""

    key = "audio/log_mel_400"
    bins = audio.MEL400_BINS
    hop = audio.MEL400_HOP
    n_fft = audio.MEL400_N_FFT
    center = False
    offset = audio.MEL400_WIN / 2 / SAMPLE_RATE  # as cospeech.data.windows.audio_clock has always taken it
    levellable = True
    recipe = recipe_text(audio.LOG_MEL_400_RECIPE)

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        return audio.log_mel_400(waveform)

    def compute_torch(self, waveform: torch.Tensor) -> torch.Tensor:
        filters = _mel_filters(self.n_fft, self.bins, audio.MEL400_FMIN, audio.MEL400_FMAX, None)
        return _torch_log_mel(
            waveform, self, window=audio.MEL400_WIN, power=1.0, filters=filters, floor=audio.MEL400_FLOOR
        )


@register_feature
class LogMel512(FeatureExtractor):
    """PATS ``audio/log_mel_512`` (``cospeech.audio.log_mel_512``; reference notes §2.2) computed at
    16 kHz: 128 log-mel bands (area-normalised) of the power STFT (n_fft 2048, hop 512, centred with
    reflect padding) at 31.25 Hz."""

    key = "audio/log_mel_512"
    bins = audio.MEL512_BINS
    hop = audio.MEL512_HOP
    n_fft = audio.MEL512_N_FFT
    center = True
    offset = 0.0
    levellable = True
    recipe = recipe_text(
        {
            "sample_rate": SAMPLE_RATE,
            "n_fft": audio.MEL512_N_FFT,
            "hop_length": audio.MEL512_HOP,
            "n_mels": audio.MEL512_BINS,
            "floor": audio.MEL512_FLOOR,
            "power": 2.0,
            "center": True,
            "mel_scale": "slaney",
            "norm": "slaney",
            "log": "natural",
        }
    )

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        if len(waveform) <= self.n_fft // 2:
            raise AudioError(
                f"{len(waveform)} samples are too short for {self.key} (need > {self.n_fft // 2})"
            )
        return audio.log_mel_512(waveform, sr=SAMPLE_RATE)

    def compute_torch(self, waveform: torch.Tensor) -> torch.Tensor:
        filters = _mel_filters(self.n_fft, self.bins, 0.0, None, "slaney")
        return _torch_log_mel(
            waveform, self, window=self.n_fft, power=2.0, filters=filters, floor=audio.MEL512_FLOOR
        )


SDT_MEL_RECIPE = {
    "sample_rate": SAMPLE_RATE,
    "n_fft": 512,
    "win_length": 400,
    "hop_length": 160,
    "f_min": 55.0,
    "f_max": 7500.0,
    "n_mels": 80,
    "power": 2.0,
    "center": True,
    "pad_mode": "reflect",
    "window": "hann",
    "mel_scale": "htk",
    "norm": None,
    "log": None,
}
"""Speech Drives Templates' front end (notes sdt §3.2): ``torchaudio.transforms.MelSpectrogram`` with these
settings (torchaudio 0.7's defaults for the rest)."""


@register_feature
class Mel80(FeatureExtractor):
    """Speech Drives Templates' ``audio/mel_80`` (notes sdt §3.2): 80 mel bands (HTK scale, 55–7500 Hz, no
    filter normalisation) of the **power** STFT (n_fft 512, 400-sample Hann window, hop 160, centred with
    reflect padding) at 100 Hz, **without log** (SDT feeds linear power). ``subframes = 7``: the model
    clock runs at 105 Hz, so a 64-frame window gives 448 mel columns (the reference's 68,266 samples give
    427). Computed with librosa / ``torch.stft`` to torchaudio's definition (torchaudio is not needed).
    """

    key = "audio/mel_80"
    bins = 80
    hop = 160
    n_fft = 512
    center = True
    offset = 0.0
    subframes = 7
    levellable = False
    recipe = recipe_text(SDT_MEL_RECIPE)

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        if len(waveform) <= self.n_fft // 2:
            raise AudioError(
                f"{len(waveform)} samples are too short for {self.key} (need > {self.n_fft // 2})"
            )
        spectrum = librosa.stft(
            np.asarray(waveform, dtype=np.float32),
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=SDT_MEL_RECIPE["win_length"],
            window="hann",
            center=True,
            pad_mode="reflect",
        )
        power = np.abs(spectrum) ** 2  # (1 + n_fft / 2, frames)
        return (self._filters() @ power).T.astype(np.float32)  # (frames, 80)

    def compute_torch(self, waveform: torch.Tensor) -> torch.Tensor:
        window = SDT_MEL_RECIPE["win_length"]
        return _torch_log_mel(waveform, self, window=window, power=2.0, filters=self._filters(), floor=None)

    def _filters(self) -> np.ndarray:
        return _mel_filters(
            self.n_fft, self.bins, SDT_MEL_RECIPE["f_min"], SDT_MEL_RECIPE["f_max"], None, True
        )
