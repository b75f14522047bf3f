"""Data-parallel training across processes started by ``torchrun``: one process per device, in the manner
of torchvision's references/detection (``init_distributed_mode``, ``DistributedSampler``, save on master).

Without ``torchrun`` (no ``WORLD_SIZE`` > 1 in the environment) every helper here is a no-op, so the same
training code runs in one process unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from footprints.torchrun import launched_world_size


def is_distributed() -> bool:
    """Whether a process group with more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0: the one process that prints, logs to MLflow and writes files."""
    return rank() == 0


@contextmanager
def process_group(device: torch.device) -> Iterator[torch.device]:
    """The device this process trains on, with the process group up for the duration when under ``torchrun``.

    ``device`` is the resolved training device (``engine.resolve_device``). Under ``torchrun`` with CUDA,
    each process takes GPU ``LOCAL_RANK`` and talks NCCL; on CPU the processes talk gloo. A group that is
    already up (a caller that set one up itself) is used as it is and left up.
    """
    if launched_world_size() <= 1 or dist.is_initialized():
        yield _local_device(device) if is_distributed() else device
        return
    device = _local_device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    try:
        yield device
    finally:
        dist.destroy_process_group()


def _local_device(device: torch.device) -> torch.device:
    """This process's own GPU (``cuda:LOCAL_RANK``); a CPU stays the CPU."""
    if device.type != "cuda":
        return device
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` (already on ``device``) in DistributedDataParallel when distributed, else itself.

    DDP broadcasts rank 0's weights at construction, so every process starts from the same model whatever
    its seed, and averages gradients in every backward pass.
    """
    if not is_distributed():
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper (the one to save or to run without gradient sync)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def sampler(dataset: Dataset, shuffle: bool, seed: int) -> DistributedSampler | None:
    """Each process's share of ``dataset`` when distributed, else None (the DataLoader samples by itself).

    Shares are equal: the sampler repeats up to ``world_size - 1`` items so that every process takes the
    same number of steps (DDP needs every process in every gradient exchange), and every process gets at
    least one item even when there are fewer items than processes. Shuffled shares depend on ``seed`` and the
    epoch (``set_epoch``), the same on every process, so shares never overlap within an epoch.
    """
    if not is_distributed():
        return None
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed)


def set_epoch(loader: object, epoch: int) -> None:
    """Reshuffle a distributed loader's shares for ``epoch`` (without it each epoch repeats the first order)."""
    share = getattr(loader, "sampler", None)
    if isinstance(share, DistributedSampler):
        share.set_epoch(epoch)


def mean_across_processes(metrics: Mapping[str, float]) -> dict[str, float]:
    """Mean of each metric over all processes, the same on every process (identity when alone).

    A plain mean is the mean over all batches because ``sampler`` gives every process the same number of
    batches. One all-reduce of one float64 tensor, so every process must call it with the same metric names
    in the same order.
    """
    if not is_distributed():
        return dict(metrics)
    names = list(metrics)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    totals = torch.tensor([metrics[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return {name: (total / world_size()).item() for name, total in zip(names, totals, strict=True)}
