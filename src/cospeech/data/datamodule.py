"""Multi-speaker window datasets and the ``LightningDataModule`` every model trains on.

Speakers are given as a flat list (``["a", "b"]``: one multi-speaker set, style id = list position) or in
the continual-learning form ``[["source"], ["a", …, "newest"]]`` (reference §3.5): the second list is the
speakers trained and evaluated on (style id = position in it), the first names the source speakers whose
statistics normalise everything when ``normalization="source"``.

``speakers: all`` (or ``["all"]``, also as the sequence of the continual form) means the 25 PATS speakers
in the reference order (notes pats §1.5, §3.1), style id = position.

Batches are gathered in one fancy-indexed read per speaker from the memory-mapped cache (``__getitems__``),
so loading is a small fraction of a training step. Optional batch keys: ``text`` (with ``token_duration``
and ``token_count`` in the reference's one-row-per-token form, ``cospeech.data.text``) and ``cluster``
(per-frame k-means pose labels, ``cospeech.data.clusters``).

Continual tasks (``replay``, ``train_batches``): a registered replay strategy
(`cospeech.data.replay`) picks the training set (the k-shot windows of the newest speaker, of every
speaker, or every window) and the batch composition; ``train_batches`` turns the epoch into that many
batches drawn with replacement (`cospeech.data.sampling`), as the reference's 200 iterations per epoch.
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
from cospeech.data.clusters import PoseClusters, fit_pose_clusters
from cospeech.data.corpus import SPLITS, Corpus, open_corpus
from cospeech.data.device_batches import DeviceBatches
from cospeech.data.fewshot import fewshot_indices
from cospeech.data.normalize import NormalizationMode, Normalizer
from cospeech.data.pats import PATS_SPEAKERS
from cospeech.data.poses import flat_to_joints
from cospeech.data.replay import Memory, ReplayStrategy, get_replay, newest_share
from cospeech.data.representation import DEFAULT_REPRESENTATION, check_representation
from cospeech.data.sampling import EPOCH_STRIDE, DrawnBatchSampler
from cospeech.data.spec import DataSpec
from cospeech.data.text import TEXT_KEYS, TOKENS_KEY, change_points, token_rows, uses_word_timings
from cospeech.data.windows import POSE_FPS, AudioRateMode, WindowSpec
from cospeech.errors import ConfigError, DataError
from cospeech.features import get_feature, is_registered

ORACLE_KEY = "oracle/normalize"
BOX_JOINTS = "box_joints"
"""Batch key of the GT joints that widen the reference's PCK box (dev/test only, raw pixels)."""
CACHE_DIRNAME = ".cospeech_cache"
ALL_SPEAKERS = "all"
"""``speakers: all``: the 25 PATS speakers (`PATS_SPEAKERS`) in the reference's order."""


@dataclass(frozen=True)
class SpeakerSet:
    """Parsed speaker list: ``sequence`` defines style ids; ``source`` the source speakers."""

    sequence: tuple[str, ...]
    source: tuple[str, ...]

    @classmethod
    def parse(cls, speakers: str | Sequence[str] | Sequence[Sequence[str]]) -> SpeakerSet:
        """``["a", "b"]``, ``[["source"…], ["a"…]]``, or ``all``/``["all"]`` (as a whole or as the
        sequence of the continual form) for `PATS_SPEAKERS`. Raises ``ConfigError`` for anything else."""
        if _means_all(speakers):
            return cls(PATS_SPEAKERS, PATS_SPEAKERS)
        if isinstance(speakers, str) or not speakers:
            raise ConfigError(f"speakers must be a non-empty list or {ALL_SPEAKERS!r}, got {speakers!r}")
        if all(isinstance(s, str) for s in speakers):
            return cls(tuple(speakers), tuple(speakers))
        if len(speakers) == 2 and not isinstance(speakers[0], str) and speakers[0]:
            if _means_all(speakers[1]):
                return cls(PATS_SPEAKERS, tuple(speakers[0]))
            if not isinstance(speakers[1], str) and speakers[1]:
                return cls(tuple(speakers[1]), tuple(speakers[0]))
        raise ConfigError(
            f"speakers must be [names…], [[source…], [sequence…]] or {ALL_SPEAKERS!r}, got {speakers!r}"
        )


def _means_all(speakers: Any) -> bool:
    """``all`` or ``["all"]``."""
    return speakers == ALL_SPEAKERS or (isinstance(speakers, (list, tuple)) and list(speakers) == ["all"])


def _collate_identity(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Batches are already built by ``WindowDataset.__getitems__``."""
    return batch


class WindowDataset(Dataset):
    """Windows of several speakers (one cache each). Items are dicts of tensors: ``audio (T, F)``,
    ``pose (T, 2J)``, ``style ()``, ``index ()``, and when present ``oracle (T, 2J)``, ``text`` and
    ``cluster (T,)``, and ``box_joints (T, K, 2)`` (dev/test of corpora that store them: GT pixels of
    the joints the reference's PCK box spans beyond the model's, not normalised; see `__getitems__`).

    ``keys`` maps batch names to stored keys (``{"pose": "pose/normalize", "text": "text/bert"…}``);
    every name but token ids is z-normalised by ``normalizer`` (``oracle`` with the pose statistics).
    """

    def __init__(
        self,
        caches: Sequence[SplitCache],
        keys: dict[str, str],
        normalizer: Normalizer,
        windows: np.ndarray | None = None,
        *,
        repeat_text: bool = True,
        clusters: PoseClusters | None = None,
    ) -> None:
        self.caches = list(caches)
        self.keys = keys
        self.normalizer = normalizer
        self.repeat_text = repeat_text
        self.clusters = clusters
        self.offsets = np.cumsum([0] + [len(c) for c in self.caches])
        self.windows = np.arange(self.offsets[-1]) if windows is None else np.asarray(windows, np.int64)

    def __len__(self) -> int:
        return len(self.windows)

    def speaker_block_sizes(self) -> list[int]:
        return [len(c) for c in self.caches]

    def style_ids(self) -> np.ndarray:
        """(N,) int64 style id of every window of the set, in dataset order."""
        return np.searchsorted(self.offsets, self.windows, side="right") - 1

    def __getitems__(self, items: Sequence[int]) -> dict[str, torch.Tensor]:
        """One batch in the order of ``items``: ``style``, ``index`` (B,) int64; ``pose``, ``audio``
        (``oracle``) (B, T, ·) float32 z-scores; with a text key ``text`` (B, T, D) float32 z-scores or
        (B, T) int64 token ids, or with ``repeat_text=False`` one row per token, (B, L, D) / (B, L)
        zero-padded, with ``token_duration`` (B, L) int64 and ``token_count`` (B,) int64
        (``cospeech.data.text``); with pose clusters ``cluster`` (B, T) int64, each frame's nearest center
        for the raw poses."""
        global_index = self.windows[np.asarray(items, dtype=np.int64)]
        style = np.searchsorted(self.offsets, global_index, side="right") - 1
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.keys}
        token_starts: list[np.ndarray] = []
        order = []
        for s in np.unique(style):
            rows = np.flatnonzero(style == s)
            local = global_index[rows] - self.offsets[s]
            for name, key in self.keys.items():
                parts[name].append(self.caches[s].gather(key, local))
            if "text" in self.keys and not self.repeat_text:
                token_starts += self._token_starts(self.caches[s], local, parts["text"][-1])
            order.append(rows)
        inverse = np.argsort(np.concatenate(order))
        raw = {name: np.concatenate(p)[inverse] for name, p in parts.items()}
        batch = {"style": torch.from_numpy(style), "index": torch.from_numpy(global_index)}
        if self.clusters is not None:
            batch["cluster"] = torch.from_numpy(self.clusters.labels(raw["pose"]))
        for name, array in raw.items():
            if name == BOX_JOINTS:  # metric input in pixels, not a model input
                batch[name] = flat_to_joints(torch.from_numpy(array))
                continue
            if name == "text" and self.keys["text"] == TOKENS_KEY:
                values = array.astype(np.int64)
            else:
                feature = "pose" if name == "oracle" else name
                values = self.normalizer.normalize(feature, array, style).astype(np.float32, copy=False)
            if name == "text" and not self.repeat_text:
                rows, duration, count = token_rows(values, [token_starts[i] for i in inverse])
                values = rows
                batch["token_duration"] = torch.from_numpy(duration)
                batch["token_count"] = torch.from_numpy(count)
            batch[name] = torch.from_numpy(values)
        return batch

    def _token_starts(self, cache: SplitCache, local: np.ndarray, text: np.ndarray) -> list[np.ndarray]:
        """Token starts of windows ``local`` of ``cache`` given their raw ``text`` (n, T, …): from the
        interval's word timings where the key uses them and the interval has them, else change-points."""
        words = cache.words if uses_word_timings(self.keys["text"]) else None
        out = []
        for w, window in zip(local, text, strict=True):
            starts = None
            if words is not None:
                starts = words.token_starts(
                    int(cache.window_interval[w]), int(cache.window_frame[w]), len(window)
                )
            out.append(change_points(window) if starts is None else starts)
        return out

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
        generator = torch.Generator().manual_seed(self.seed + EPOCH_STRIDE * self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


class PatsDataModule(L.LightningDataModule):
    """Train/dev/test windows of a corpus in any registered format (PATS, the built-in synthetic one…).

    Args:
        root: corpus root directory.
        speakers: ``["a", "b"]``, ``[["source"], ["a", "b"]]`` or ``all`` (the 25 PATS speakers, also
            allowed as the sequence: ``[["oliver"], "all"]``); style id = position in the sequence.
        format: corpus format (``pats``…, see ``cospeech.data.corpus``); None detects it from the root.
        pose_key: stored pose key the models learn; None: the format's (`Corpus.default_pose_key`:
            ``pose/normalize`` for PATS, as in the reference; ``pose`` for SDT).
        audio_key: stored audio feature (``audio/log_mel_400`` or ``audio/log_mel_512``).
        text_key: stored text key batches carry as ``text``: ``text/tokens`` (ids), ``text/bert`` (768) or
            ``text/w2v`` (300) features, z-normalised like audio; None for none.
        repeat_text: text per frame (True), or one row per token with ``token_duration`` and
            ``token_count``, as the reference's ``repeat_text=0`` (``cospeech.data.text``).
        pose_clusters: K > 0 adds ``cluster``, per-frame labels of a K-means fitted on the source
            speakers' raw training poses (``cospeech.data.clusters``); 0 for none.
        window_seconds: window length; 4.3 s → 64 frames at 15 fps.
        window_hop: pose frames between training windows (5 as in C-DiffGAN; 0 = non-overlapping).
        eval_window_hop: the same for dev/test windows (0: every frame scored once).
        audio_rate_mode: ``exact`` (audio aligned to the pose clock) or ``pats`` (reference constants).
        audio_level: ``utterance`` (default): each interval's audio features relative to its speech level,
            floored 50 dB below it, so recording level and the noise floor of pauses do not matter
            (``cospeech.audio.normalize_level``); inference repeats it. ``none``: features as stored (the
            reference's; the earlier default, and what runs whose metadata lacks the field used).
        normalization: ``pooled``, ``source`` or ``per_speaker`` statistics.
        representation: pose representation of model space (``cospeech.data.representation``): ``z_flat``
            (the flat joints) or ``hierarchical`` (SDT's: face relative to the nose tip, hands to the
            wrists); statistics are fitted in its space, and it is saved with the run.
        k_shot: if set, train on ``k_shot`` windows per speaker drawn with replacement by ``fewshot_seed``
            (``cospeech.data.fewshot``; notes pats §3.6).
        fewshot_seed: seed of the few-shot draw.
        replay: a registered replay strategy (``cospeech.data.replay``: ``none``, ``buffer``, ``pseudo``,
            ``pseudo_aligned``, ``mergan_jtr``, ``mergan_ra``, ``joint``; notes pats §5.2, cdiffgan §7), read
            back as `replay`. Its memory sets the training set: the k-shot windows of the newest speaker (the
            last of the sequence, style id ``len(speakers) − 1``; ``none``, ``mergan_*``), of every speaker
            (``buffer``, ``pseudo*``), both needing ``k_shot``, or every training window (``joint``, which
            ignores ``k_shot``). The k-shot draw is the same in all of them, so a speaker keeps its windows
            from task to task. ``pseudo_aligned`` (C-DiffGAN) needs ``train_batches``: each batch's first
            ``bs_old`` rows are drawn uniformly from the earlier speakers' windows and its last ``bs_new``
            from the newest speaker's (``newest_share``: 16/16, 22/10, 24/8, 26/6 at batch 32 for 2..5
            speakers). None: no strategy (the k-shot windows of every speaker if ``k_shot`` is set).
        train_batches: batches per training epoch, each row drawn uniformly with replacement from the
            training set (``cospeech.data.sampling``; the reference's ``num_training_iters`` 200, notes
            cdiffgan §8); over all processes under DDP. None: one shuffled pass over the training set.
        batch_size: windows per batch.
        num_workers: DataLoader worker processes.
        pin_memory: batches in page-locked memory, for faster asynchronous copies to a CUDA device (ignored
            without one); off by default until measured to help (``benchmarks/bench_training.py``).
        gather_on_device: hold the training split on the training device and gather each batch there by
            index, in the same order (``cospeech.data.device_batches``): the same batches, no workers and
            no per-batch copy. One process only; not with ``repeat_text: false``; refused when the split
            would take more than half the device's free memory. Off by default (unmeasured on a GPU).
        cache_dir: cache root (default ``<root>/.cospeech_cache``).
        seed: seed of the training data order or draw (epoch e uses ``seed`` and e, so a resumed run repeats
            it) and of the pose clusters.

    Raises ``ConfigError`` for an unknown ``replay`` (listing the strategies), a k-shot strategy without
    ``k_shot``, ``train_batches`` < 1, or ``pseudo_aligned`` without ``train_batches``.
    """

    def __init__(
        self,
        root: str,
        speakers: str | list[Any],
        format: str | None = None,
        pose_key: str | None = None,
        audio_key: str = "audio/log_mel_400",
        text_key: str | None = None,
        repeat_text: bool = True,
        pose_clusters: int = 0,
        window_seconds: float = 4.3,
        window_hop: int = 5,
        eval_window_hop: int = 0,
        audio_rate_mode: AudioRateMode = "exact",
        audio_level: AudioLevel = "utterance",
        normalization: NormalizationMode = "pooled",
        representation: str = DEFAULT_REPRESENTATION,
        k_shot: int | None = None,
        fewshot_seed: int = 1,
        replay: str | None = None,
        train_batches: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
        gather_on_device: bool = False,
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
        check_representation(representation)
        if audio_level == "utterance" and is_registered(audio_key) and not get_feature(audio_key).levellable:
            raise ConfigError(f"audio_key={audio_key!r} is not a log-domain feature; set audio_level: none")
        if text_key is not None and text_key not in TEXT_KEYS:
            raise ConfigError(f"text_key={text_key!r}; expected None or one of {', '.join(TEXT_KEYS)}")
        if not isinstance(repeat_text, bool):
            raise ConfigError(f"repeat_text={repeat_text!r} must be true or false")
        if gather_on_device and text_key is not None and not repeat_text:
            raise ConfigError(
                "gather_on_device needs one row per window; text token rows (repeat_text: false) are "
                "padded per batch"
            )
        if type(pose_clusters) is not int or pose_clusters < 0:
            raise ConfigError(f"pose_clusters={pose_clusters!r} must be an integer ≥ 0 (0: no labels)")
        self.replay: ReplayStrategy | None = None if replay is None else get_replay(replay)
        """The replay strategy named by ``replay`` (None without one)."""
        self._check_sampling(k_shot, train_batches)
        self.datasets: dict[str, WindowDataset] = {}
        self.normalizer: Normalizer | None = None
        self.pose_clusters: PoseClusters | None = None
        """Fitted cluster centers when ``pose_clusters`` > 0 (after ``setup``)."""
        self.corpus: Corpus | None = None
        self.pose_key: str | None = pose_key
        """The stored pose key models learn (the format's default if none was named; after ``setup``)."""
        self.text_featurizer: str | None = None

    @property
    def speakers(self) -> tuple[str, ...]:
        return self.speaker_set.sequence

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        corpus = open_corpus(self.root, hp.format)
        self._check_speakers(corpus)
        self.corpus = corpus
        self.text_featurizer = self._read_text_featurizer(corpus)  # read once, not per `spec`
        self.pose_key = hp.pose_key or corpus.default_pose_key
        keys = {"pose": self.pose_key, "audio": hp.audio_key}
        if self._has_oracle(corpus):
            keys["oracle"] = ORACLE_KEY
        if hp.text_key is not None:
            keys["text"] = hp.text_key
        stored = list(keys.values())
        cache_root = Path(hp.cache_dir) if hp.cache_dir else self.root / CACHE_DIRNAME
        everyone = list(dict.fromkeys([*self.speaker_set.sequence, *self.speaker_set.source]))
        level, representation = hp.audio_level, hp.representation
        train = {
            s: load_split(
                corpus,
                s,
                "train",
                stored,
                self.train_spec,
                cache_root,
                audio_level=level,
                representation=representation,
            )
            for s in everyone
        }
        sequence = self.speaker_set.sequence
        if not any(len(train[s]) for s in sequence):
            raise DataError(f"{self.root}: no training windows for speakers {list(sequence)}")
        normalized = {name: key for name, key in keys.items() if name != "oracle" and key != TOKENS_KEY}
        self.normalizer = Normalizer.fit(
            train, normalized, self.speaker_set.sequence, self.speaker_set.source, hp.normalization
        )
        if hp.pose_clusters:
            source = [train[s] for s in self.speaker_set.source]
            self.pose_clusters = fit_pose_clusters(
                source, self.pose_key, hp.pose_clusters, hp.seed, cache_root
            )

        def dataset(
            caches: list[SplitCache], windows: np.ndarray | None = None, names: dict[str, str] = keys
        ) -> WindowDataset:
            return WindowDataset(
                caches,
                names,
                self.normalizer,
                windows,
                repeat_text=hp.repeat_text,
                clusters=self.pose_clusters,
            )

        train_set = dataset([train[s] for s in sequence])
        memory = self._memory()
        if memory != "all_windows":
            keep = [-1] if memory == "newest" else None
            subset = fewshot_indices(train_set.speaker_block_sizes(), hp.k_shot, hp.fewshot_seed, keep)
            train_set = dataset(train_set.caches, subset)
        self.datasets["train"] = train_set
        eval_keys = dict(keys)
        if corpus.box_joints:  # dev/test batches carry them for PCK_ref
            eval_keys[BOX_JOINTS] = BOX_JOINTS_PREFIX + self.pose_key
        for split in SPLITS[1:]:
            caches = [
                load_split(
                    corpus,
                    s,
                    split,
                    list(eval_keys.values()),
                    self.eval_spec,
                    cache_root,
                    audio_level=level,
                    representation=representation,
                )
                for s in sequence
            ]
            self.datasets[split] = dataset(caches, names=eval_keys)

    def _check_sampling(self, k_shot: int | None, train_batches: int | None) -> None:
        """``k_shot`` for a k-shot strategy, ``train_batches`` ≥ 1 and set for ``newest_share`` batches."""
        if self.replay is not None and self.replay.uses_k_shot and k_shot is None:
            raise ConfigError(
                f"replay={self.replay.name!r} trains on k-shot windows (memory {self.replay.memory!r}); "
                "set k_shot"
            )
        if train_batches is not None and (type(train_batches) is not int or train_batches < 1):
            raise ConfigError(f"train_batches={train_batches!r} must be an integer ≥ 1 (None: one pass)")
        if self.replay is not None and self.replay.batches == "newest_share" and train_batches is None:
            raise ConfigError(
                f"replay={self.replay.name!r} draws its batches with replacement; set train_batches "
                "(the reference: 200)"
            )

    def _memory(self) -> Memory:
        """The training set: ``newest``/``seen`` k-shot windows or ``all_windows``."""
        if self.replay is not None:
            return self.replay.memory
        return "all_windows" if self.hparams.k_shot is None else "seen"

    def _check_speakers(self, corpus: Corpus) -> None:
        """Every speaker named must be in the corpus; for ``speakers: all`` the error says so."""
        wanted = list(dict.fromkeys([*self.speaker_set.sequence, *self.speaker_set.source]))
        missing = [s for s in wanted if s not in corpus.speakers]
        if missing and self.speaker_set.sequence == PATS_SPEAKERS:
            raise DataError(
                f"{corpus.root}: speakers: {ALL_SPEAKERS} means the {len(PATS_SPEAKERS)} PATS speakers, and "
                f"{len(missing)} are missing: {missing}; list the speakers to use instead"
            )
        corpus.check_speakers(wanted)

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
            pose_key=self.pose_key,
            audio_key=hp.audio_key,
            audio_dim=self._audio_dim(),
            speakers=self.speakers,
            fps=POSE_FPS,
            window_seconds=hp.window_seconds,
            audio_rate_mode=hp.audio_rate_mode,
            normalization=hp.normalization,
            text=dict(self.corpus.text_features),
            train_windows=len(train),
            train_intervals=train.interval_count(),
            audio_level=hp.audio_level,
            text_key=hp.text_key,
            repeat_text=hp.repeat_text,
            text_featurizer=self.text_featurizer,
            pose_clusters=hp.pose_clusters,
            box_joints=self.corpus.box_joints,
            representation=hp.representation,
        )

    def _audio_dim(self) -> int:
        """F the models see: ``subframes · bins`` of a registered feature, else the corpus's stored width."""
        key = self.hparams.audio_key
        return get_feature(key).audio_dim if is_registered(key) else self.corpus.feature_width(key)

    def _read_text_featurizer(self, corpus: Corpus) -> str | None:
        """What made the text key, as the first training interval of the first speaker records it."""
        key = self.hparams.text_key
        if key is None:
            return None
        speaker = self.speakers[0]
        ids = corpus.interval_ids(speaker, "train")
        return corpus.text_featurizer(speaker, ids[0], key) if ids else None

    def use_normalizer(self, normalizer: Normalizer) -> None:
        """Normalise every split with ``normalizer`` (a trained model's own statistics) instead of the
        statistics fitted in ``setup``."""
        self.normalizer = normalizer
        for dataset in self.datasets.values():
            dataset.normalizer = normalizer

    def _has_oracle(self, corpus: Corpus) -> bool:
        """Every speaker's files store the oracle (a corpus may mix built-in and imported speakers)."""
        for speaker in self.speaker_set.sequence:
            ids = corpus.interval_ids(speaker, "train")
            if not ids or ORACLE_KEY not in corpus.keys(speaker, ids[0]):
                return False
        return True

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
            pin_memory=hp.pin_memory and torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        sampler = self._train_sampler()
        if not self.hparams.gather_on_device:
            return self._loader("train", sampler)
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            raise ConfigError("gather_on_device works in one process; set data.gather_on_device false")
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        return DeviceBatches(self.datasets["train"], sampler, self.hparams.batch_size, device)

    def _train_sampler(self) -> Sampler[int]:
        """The training order: a shuffle per epoch, or ``train_batches`` drawn batches."""
        hp = self.hparams
        train = self.datasets["train"]
        if hp.train_batches is None:
            return EpochShuffleSampler(len(train), hp.seed)
        parts = [(np.arange(len(train)), hp.batch_size)]
        if self.replay is not None and self.replay.batches == "newest_share":
            newest = train.style_ids() == len(self.speakers) - 1
            old_rows, new_rows = newest_share(hp.batch_size, len(self.speakers))
            parts = [(np.flatnonzero(~newest), old_rows), (np.flatnonzero(newest), new_rows)]
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return DrawnBatchSampler(parts, hp.train_batches, hp.seed, replicas, rank)

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", None)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", None)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
