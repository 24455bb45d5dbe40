"""Real DDP: two CPU processes (gloo), each updating with half of the batches, compute what one process
computes on all of them, for every metric of the suite (each chunk is one update in both, so even the
batch-dependent expressiveness values agree), and agree on the number of windows scored."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from metrics_testdata import TinyEncoder, assert_close, full_suite, make_pose_data, update_in_chunks

from cospeech.data.poses import flat_to_joints
from cospeech.metrics import fit_gesture_clusters

WORLD_SIZE = 2
CHUNKS = [1, 2, 2, 3]  # rank r takes chunks r, r + 2, …: rank 0 gets 3 sequences, rank 1 gets 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chunks_of_rank(data: dict, rank: int) -> tuple[dict, list[int]]:
    """The rows of this rank's chunks, and the chunk sizes."""
    starts = np.cumsum([0, *CHUNKS])
    mine = range(rank, len(CHUNKS), WORLD_SIZE)
    rows = [i for c in mine for i in range(starts[c], starts[c + 1])]
    part = {
        "preds": data["preds"][rows],
        "target": data["target"][rows],
        "beats": [data["beats"][i] for i in rows],
        "box_joints": data["box_joints"][rows],
        "mean": data["mean"],
        "std": data["std"],
    }
    return part, [CHUNKS[c] for c in mine]


def _worker(rank: int, port: int, inputs: Path, out_dir: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        saved = torch.load(inputs, weights_only=False)
        encoder = TinyEncoder()
        encoder.load_state_dict(saved["encoder"])
        part, sizes = _chunks_of_rank(saved["data"], rank)
        suite = full_suite(part, encoder, saved["centres"])
        update_in_chunks(suite, part, sizes)
        torch.save((suite.compute(), suite.windows), out_dir / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_equals_single_process(tmp_path: Path, encoder: TinyEncoder) -> None:
    data = make_pose_data()
    train = make_pose_data(seed=1)
    mean, std = torch.tensor(train["mean"]), torch.tensor(train["std"])
    centres = fit_gesture_clusters(flat_to_joints(train["target"].double() * std + mean), k=4, seed=0)
    inputs = tmp_path / "inputs.pt"
    torch.save({"data": data, "encoder": encoder.state_dict(), "centres": centres}, inputs)

    single = full_suite(data, encoder, centres)
    update_in_chunks(single, data, CHUNKS)
    expected = single.compute()

    mp.spawn(_worker, args=(_free_port(), inputs, tmp_path), nprocs=WORLD_SIZE, join=True)
    for rank in range(WORLD_SIZE):
        result, windows = torch.load(tmp_path / f"rank{rank}.pt")
        assert_close(result, expected)
        assert windows == single.windows == sum(CHUNKS)
