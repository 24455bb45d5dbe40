"""Multi-speaker window datasets and the ``LightningDataModule`` every model trains on.

Speakers are given as a flat list (``["a", "b"]``: one multi-speaker set, style id = list position) or in
the continual-learning form ``[["source"], ["a", …, "newest"]]`` (reference §3.5): the second list is the
speakers trained and evaluated on (style id = position in it), the first names the source speakers whose
statistics normalise everything when ``normalization="source"``.

Batches are gathered in one fancy-indexed read per speaker from the memory-mapped cache (``__getitems__``),
so loading is a small fraction of a training step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cospeech.audio import AUDIO_LEVELS, AudioLevel
from cospeech.data.cache import BOX_JOINTS_PREFIX, SplitCache, load_split
from cospeech.data.corpus import SPLITS, Corpus, open_corpus
from cospeech.data.fewshot import fewshot_indices
from cospeech.data.normalize import NormalizationMode, Normalizer
from cospeech.data.poses import flat_to_joints
from cospeech.data.spec import DataSpec
from cospeech.data.windows import POSE_FPS, AudioRateMode, WindowSpec
from cospeech.errors import ConfigError, DataError

ORACLE_KEY = "oracle/normalize"
BOX_JOINTS = "box_joints"
"""Batch key of the GT joints that widen the reference's PCK box (dev/test only, raw pixels)."""
CACHE_DIRNAME = ".cospeech_cache"


@dataclass(frozen=True)
class SpeakerSet:
    """Parsed speaker list: ``sequence`` defines style ids; ``source`` the source speakers."""

    sequence: tuple[str, ...]
    source: tuple[str, ...]

    @classmethod
    def parse(cls, speakers: Sequence[str] | Sequence[Sequence[str]]) -> SpeakerSet:
        if isinstance(speakers, str) or not speakers:
            raise ConfigError(f"speakers must be a non-empty list, got {speakers!r}")
        if all(isinstance(s, str) for s in speakers):
            return cls(tuple(speakers), tuple(speakers))
        if len(speakers) == 2 and all(not isinstance(g, str) and g for g in speakers):
            return cls(tuple(speakers[1]), tuple(speakers[0]))
        raise ConfigError(f"speakers must be [names…] or [[source…], [sequence…]], got {speakers!r}")


def _collate_identity(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Batches are already built by ``WindowDataset.__getitems__``."""
    return batch


class WindowDataset(Dataset):
    """Windows of several speakers (one cache each). Items are dicts of tensors:
    ``audio (T, F)``, ``pose (T, 2J)``, ``style ()``, ``index ()`` and ``oracle (T, 2J)`` when present;
    ``box_joints (T, K, 2)`` (dev/test of corpora that store them): GT pixels of the joints the reference's
    PCK box spans beyond the model's, in the pose metrics' space, not normalised."""

    def __init__(
        self,
        caches: Sequence[SplitCache],
        keys: dict[str, str],
        normalizer: Normalizer,
        windows: np.ndarray | None = None,
    ) -> None:
        self.caches = list(caches)
        self.keys = keys
        self.normalizer = normalizer
        self.offsets = np.cumsum([0] + [len(c) for c in self.caches])
        self.windows = np.arange(self.offsets[-1]) if windows is None else np.asarray(windows, np.int64)

    def __len__(self) -> int:
        return len(self.windows)

    def speaker_block_sizes(self) -> list[int]:
        return [len(c) for c in self.caches]

    def __getitems__(self, items: Sequence[int]) -> dict[str, torch.Tensor]:
        """One batch: (B, T, …) tensors in the order of ``items``."""
        global_index = self.windows[np.asarray(items, dtype=np.int64)]
        style = np.searchsorted(self.offsets, global_index, side="right") - 1
        out: dict[str, list[np.ndarray]] = {name: [] for name in self.keys}
        order = []
        for s in np.unique(style):
            rows = np.flatnonzero(style == s)
            local = global_index[rows] - self.offsets[s]
            for name, key in self.keys.items():
                out[name].append(self.caches[s].gather(key, local))
            order.append(rows)
        inverse = np.argsort(np.concatenate(order))
        batch = {"style": torch.from_numpy(style), "index": torch.from_numpy(global_index)}
        for name, parts in out.items():
            if name == BOX_JOINTS:  # metric input in pixels, not a model input
                batch[name] = flat_to_joints(torch.from_numpy(np.concatenate(parts)[inverse]))
                continue
            feature = "pose" if name == "oracle" else name
            z = self.normalizer.normalize(feature, np.concatenate(parts)[inverse], style)
            batch[name] = torch.from_numpy(z.astype(np.float32, copy=False))
        return batch

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([item]).items()}

    def interval_count(self) -> int:
        """Number of distinct intervals the windows of this set come from."""
        count = 0
        for s, cache in enumerate(self.caches):
            mine = self.windows[(self.windows >= self.offsets[s]) & (self.windows < self.offsets[s + 1])]
            count += len(np.unique(cache.window_interval[mine - self.offsets[s]]))
        return count

    def window_info(self, index: int) -> tuple[int, str, int]:
        """(style id, interval id, first pose frame) of global window ``index`` (for renders)."""
        s = int(np.searchsorted(self.offsets, index, side="right") - 1)
        cache = self.caches[s]
        local = index - self.offsets[s]
        return s, cache.interval_ids[cache.window_interval[local]], int(cache.window_frame[local])


class EpochShuffleSampler(Sampler[int]):
    """A permutation that depends only on (seed, epoch), so a resumed run sees the same data order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + 1_000_003 * self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


class PatsDataModule(L.LightningDataModule):
    """Train/dev/test windows of a corpus in any registered format (PATS, the built-in synthetic one…).

    Args:
        root: corpus root directory.
        speakers: ``["a", "b"]`` or ``[["source"], ["a", "b"]]``; style id = position in the sequence.
        format: corpus format (``pats``…, see ``cospeech.data.corpus``); None detects it from the root.
        pose_key: stored pose key the models learn (``pose/normalize`` as in the reference).
        audio_key: stored audio feature (``audio/log_mel_400`` or ``audio/log_mel_512``).
        window_seconds: window length; 4.3 s → 64 frames at 15 fps.
        window_hop: pose frames between training windows (5 as in C-DiffGAN; 0 = non-overlapping).
        eval_window_hop: the same for dev/test windows (0: every frame scored once).
        audio_rate_mode: ``exact`` (audio aligned to the pose clock) or ``pats`` (reference constants).
        audio_level: ``utterance`` (default): each interval's audio features relative to its speech level,
            floored 50 dB below it, so recording level and the noise floor of pauses do not matter
            (``cospeech.audio.normalize_level``); inference repeats it. ``none``: features as stored (the
            reference's; the earlier default, and what runs whose metadata lacks the field used).
        normalization: ``pooled``, ``source`` or ``per_speaker`` statistics.
        k_shot: if set, train on ``k_shot`` windows per speaker drawn with ``fewshot_seed``.
        fewshot_seed: seed of the few-shot draw.
        fewshot_newest_only: draw the few-shot set for the newest speaker only (no replay).
        batch_size: windows per batch.
        num_workers: DataLoader worker processes.
        cache_dir: cache root (default ``<root>/.cospeech_cache``).
        seed: seed of the training data order (epoch e uses ``seed`` and e).
    """

    def __init__(
        self,
        root: str,
        speakers: list[Any],
        format: str | None = None,
        pose_key: str = "pose/normalize",
        audio_key: str = "audio/log_mel_400",
        window_seconds: float = 4.3,
        window_hop: int = 5,
        eval_window_hop: int = 0,
        audio_rate_mode: AudioRateMode = "exact",
        audio_level: AudioLevel = "utterance",
        normalization: NormalizationMode = "pooled",
        k_shot: int | None = None,
        fewshot_seed: int = 1,
        fewshot_newest_only: bool = False,
        batch_size: int = 32,
        num_workers: int = 0,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root)
        self.speaker_set = SpeakerSet.parse(speakers)
        self.train_spec = WindowSpec(window_seconds, window_hop, audio_rate_mode)
        self.eval_spec = WindowSpec(window_seconds, eval_window_hop, audio_rate_mode)
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size} must be ≥ 1")
        if audio_level not in AUDIO_LEVELS:
            raise ConfigError(f"audio_level={audio_level!r}; expected one of {', '.join(AUDIO_LEVELS)}")
        self.datasets: dict[str, WindowDataset] = {}
        self.normalizer: Normalizer | None = None
        self.corpus: Corpus | None = None

    @property
    def speakers(self) -> tuple[str, ...]:
        return self.speaker_set.sequence

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        corpus = open_corpus(self.root, hp.format)
        corpus.check_speakers([*self.speaker_set.sequence, *self.speaker_set.source])
        self.corpus = corpus
        keys = {"pose": hp.pose_key, "audio": hp.audio_key}
        if self._has_oracle(corpus):
            keys["oracle"] = ORACLE_KEY
        stored = list(keys.values())
        cache_root = Path(hp.cache_dir) if hp.cache_dir else self.root / CACHE_DIRNAME
        everyone = list(dict.fromkeys([*self.speaker_set.sequence, *self.speaker_set.source]))
        level = hp.audio_level
        train = {
            s: load_split(corpus, s, "train", stored, self.train_spec, cache_root, audio_level=level)
            for s in everyone
        }
        sequence = self.speaker_set.sequence
        if not any(len(train[s]) for s in sequence):
            raise DataError(f"{self.root}: no training windows for speakers {list(sequence)}")
        self.normalizer = Normalizer.fit(
            train,
            {"pose": hp.pose_key, "audio": hp.audio_key},
            self.speaker_set.sequence,
            self.speaker_set.source,
            hp.normalization,
        )
        train_set = WindowDataset([train[s] for s in sequence], keys, self.normalizer)
        if hp.k_shot is not None:
            keep = [-1] if hp.fewshot_newest_only else None
            subset = fewshot_indices(train_set.speaker_block_sizes(), hp.k_shot, hp.fewshot_seed, keep)
            train_set = WindowDataset(train_set.caches, keys, self.normalizer, subset)
        self.datasets["train"] = train_set
        eval_keys = dict(keys)
        if corpus.box_joints:  # dev/test batches carry them for PCK_ref
            eval_keys[BOX_JOINTS] = BOX_JOINTS_PREFIX + hp.pose_key
        for split in SPLITS[1:]:
            caches = [
                load_split(
                    corpus, s, split, list(eval_keys.values()), self.eval_spec, cache_root, audio_level=level
                )
                for s in sequence
            ]
            self.datasets[split] = WindowDataset(caches, eval_keys, self.normalizer)

    @property
    def spec(self) -> DataSpec:
        """What the models are fed (after ``setup``): widths, speakers, window, feature settings."""
        if "train" not in self.datasets:
            raise ConfigError("the data spec exists only after setup() has read the corpus")
        hp = self.hparams
        train = self.datasets["train"]
        return DataSpec(
            format=self.corpus.format,
            skeleton=self.corpus.model_skeleton.name,
            pose_key=hp.pose_key,
            audio_key=hp.audio_key,
            audio_dim=self.corpus.feature_width(hp.audio_key),
            speakers=self.speakers,
            fps=POSE_FPS,
            window_seconds=hp.window_seconds,
            audio_rate_mode=hp.audio_rate_mode,
            normalization=hp.normalization,
            text=dict(self.corpus.text_features),
            train_windows=len(train),
            train_intervals=train.interval_count(),
            audio_level=hp.audio_level,
            box_joints=self.corpus.box_joints,
        )

    def use_normalizer(self, normalizer: Normalizer) -> None:
        """Normalise every split with ``normalizer`` (a trained model's own statistics) instead of the
        statistics fitted in ``setup``."""
        self.normalizer = normalizer
        for dataset in self.datasets.values():
            dataset.normalizer = normalizer

    def _has_oracle(self, corpus: Corpus) -> bool:
        speaker = self.speaker_set.sequence[0]
        ids = corpus.interval_ids(speaker, "train")
        return bool(ids) and ORACLE_KEY in corpus.keys(speaker, ids[0])

    def _loader(self, split: str, sampler: Sampler | None) -> DataLoader:
        hp = self.hparams
        return DataLoader(
            self.datasets[split],
            batch_size=hp.batch_size,
            sampler=sampler,
            shuffle=False,
            collate_fn=_collate_identity,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", EpochShuffleSampler(len(self.datasets["train"]), self.hparams.seed))

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", None)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", None)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
