"""Training in the manner of torchvision's references/detection/engine.py: one epoch, read top to bottom."""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .checkpoint import Checkpoint, active_mlflow_run_id, random_state, restore_random_state

Batch = tuple[Sequence[torch.Tensor], Sequence[dict[str, torch.Tensor]]]


class NonFiniteLossError(FloatingPointError):
    """A NaN or infinite loss: stop, rather than train on garbage for the remaining epochs."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when there is a GPU; asking for CUDA without one fails here, not mid-training."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return resolved


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision type for ``device``: bf16 where the GPU has it (needs no loss scaling), else fp16."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[Batch],
    device: torch.device,
    epoch: int,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    max_grad_norm: float | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train one pass over ``loader``; return the mean of each Mask R-CNN loss term and of their sum ``loss``.

    ``scheduler`` is stepped every iteration (warmup needs that). ``scaler`` is for fp16 only. Gradients are
    clipped to ``max_grad_norm``: early steps from COCO heads can spike. A NaN/inf loss raises
    ``NonFiniteLossError`` before it reaches the weights.
    """
    model.train()
    sums: dict[str, float] = defaultdict(float)
    steps = 0
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=not progress, leave=False, dynamic_ncols=True)
    for step, (images, targets) in enumerate(bar, start=1):
        images, targets = _to_device(images, targets, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss_dict = model(images, targets)
        loss = sum(loss_dict.values())
        values = {name: value.item() for name, value in loss_dict.items()} | {"loss": loss.item()}
        if not all(math.isfinite(value) for value in values.values()):
            terms = ", ".join(f"{name}={value:.4g}" for name, value in values.items())
            raise NonFiniteLossError(
                f"epoch {epoch} step {step}: loss is not finite ({terms}); lower lr, set max_grad_norm, "
                "or look for NaN in the inputs"
            )

        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        else:
            loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()

        for name, value in values.items():
            sums[name] += value
        steps += 1
        bar.set_postfix(loss=f"{values['loss']:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
    if steps == 0:
        raise ValueError("the training loader yielded no batches")
    return {name: total / steps for name, total in sums.items()}


@torch.no_grad()
def validation_losses(
    model: nn.Module,
    loader: Iterable[Batch],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean loss terms on ``loader``, without learning from it.

    torchvision's Mask R-CNN returns losses only in train mode, so the model runs in train mode with
    BatchNorm layers switched to eval: v2, and v1 from scratch, use ordinary BatchNorm (only v1 from COCO
    freezes it), whose running statistics would otherwise drift toward the validation set. In train mode
    the RPN keeps more proposals and the RoI heads sample them at random, so the numbers vary a little
    between calls; they are for comparing epochs, not a metric.
    """
    was_training = model.training
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    sums: dict[str, float] = defaultdict(float)
    batches = 0
    for images, targets in loader:
        images, targets = _to_device(images, targets, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss_dict = model(images, targets)
        for name, value in loss_dict.items():
            sums[name] += value.item()
        sums["loss"] += sum(loss_dict.values()).item()
        batches += 1
    model.train(was_training)
    if batches == 0:
        raise ValueError("the validation loader yielded no batches")
    return {name: total / batches for name, total in sums.items()}


def fit(
    model: nn.Module,
    train_loader: Sequence[Batch] | torch.utils.data.DataLoader,
    val_loader: Iterable[Batch] | None,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    device: torch.device,
    optimizer: str = "sgd",
    schedule: str = "cosine",
    warmup_steps: int | None = None,
    amp: bool = True,
    max_grad_norm: float | None = 10.0,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> list[dict[str, float]]:
    """Train for ``epochs`` (numbered from 1) and return each epoch's metrics.

    ``optimizer``: ``sgd`` (momentum 0.9, torchvision's recipe) or ``adamw``. ``schedule``: linear warmup over
    ``warmup_steps`` iterations (default: one epoch, at most 1000, as torchvision), then ``cosine`` decay to
    zero or ``step`` (x0.1 at 70% and 90% of training). ``amp`` uses autocast on CUDA only. Metrics are the
    training loss terms, ``val_``-prefixed validation ones when ``val_loader`` is given, ``lr`` and
    ``epoch_seconds``; ``on_epoch_end(epoch, metrics)`` gets them (e.g. to log to MLflow), and one line
    is printed.

    Under ``torchrun`` (a process group is up, see ``distributed.process_group``) the model is trained in
    DistributedDataParallel: give loaders whose sampler is ``distributed.sampler`` (each process its share,
    so the global batch is the loaders' batch size x the number of processes). Every process returns the
    same metrics, averaged over processes; only rank 0 prints and calls ``on_epoch_end``. ``model`` itself
    (not a wrapper) holds the trained weights on every process.

    ``checkpoint``: saved after every epoch (rank 0) and, when it exists at the start, resumed from: the run
    continues at the next epoch with the same weights, optimiser, schedule and random streams, so it ends as
    an uninterrupted run would (on one process; under torchrun the other ranks' random streams restart).
    """
    model.to(device)
    trained = distributed.wrap(model, device)
    main = distributed.is_main_process()
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    total_steps = epochs * len(train_loader)
    warmup_steps = min(1000, len(train_loader)) if warmup_steps is None else warmup_steps
    scheduler = make_scheduler(opt, schedule, total_steps, warmup_steps)
    amp_dtype = autocast_dtype(device) if amp else None
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None

    generators = [loader.generator for loader in (train_loader, val_loader)
                  if getattr(loader, "generator", None) is not None]
    history = _resume(checkpoint, model, opt, scheduler, scaler, generators) if checkpoint else []
    for epoch in range(len(history) + 1, epochs + 1):
        started = time.perf_counter()
        distributed.set_epoch(train_loader, epoch)
        metrics = train_one_epoch(
            trained,
            opt,
            train_loader,
            device,
            epoch,
            scheduler=scheduler,
            amp_dtype=amp_dtype,
            scaler=scaler,
            max_grad_norm=max_grad_norm,
            progress=progress and main,
        )
        if val_loader is not None:
            # the plain model: DDP's forward would sync buffers, which validation has no use for
            val = validation_losses(model, val_loader, device, amp_dtype)
            metrics |= {f"val_{name}": value for name, value in val.items()}
        metrics = distributed.mean_across_processes(metrics)
        metrics |= {"lr": opt.param_groups[0]["lr"], "epoch_seconds": time.perf_counter() - started}
        history.append(metrics)
        if main:
            if checkpoint is not None:
                _save(checkpoint, model, opt, scheduler, scaler, generators, history, epochs)
            if on_epoch_end is not None:
                on_epoch_end(epoch, metrics)
            print(_summary_line(epoch, epochs, metrics), flush=True)
    return history


def _resume(checkpoint: Checkpoint, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None,
            generators: list[torch.Generator]) -> list[dict[str, float]]:
    """Load ``checkpoint`` into the training objects when it exists; the finished epochs' metrics."""
    state = checkpoint.load()
    if state is None:
        return []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    if distributed.world_size() == 1:  # under torchrun each process keeps its own seeded streams
        restore_random_state(state["random"], generators)
    print(f"resuming after epoch {len(state['history'])} from {checkpoint.path}", flush=True)
    return state["history"]


def _save(checkpoint: Checkpoint, model: nn.Module, optimizer: torch.optim.Optimizer,
          scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None,
          generators: list[torch.Generator], history: list[dict[str, float]], epochs: int) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
             "random": random_state(generators), "history": history}
    checkpoint.save(state, {"epoch": len(history), "epochs": epochs, "mlflow_run_id": active_mlflow_run_id()})


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD or AdamW over the parameters left trainable (frozen backbone stages are skipped)."""
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {name!r}")


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, total_steps: int, warmup_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration LR factor: linear warmup from 0.001 (new heads give big early gradients), then decay."""
    if schedule not in ("cosine", "step"):
        raise ValueError(f"schedule must be 'cosine' or 'step', got {schedule!r}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.001 + (1 - 0.001) * step / warmup_steps
        if schedule == "cosine":
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 0.1 ** sum(step >= fraction * total_steps for fraction in (0.7, 0.9))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _to_device(
    images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]], device: torch.device
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images = [image.to(device, non_blocking=True) for image in images]
    targets = [
        {key: value.to(device, non_blocking=True) for key, value in target.items()} for target in targets
    ]
    return images, targets


def _summary_line(epoch: int, epochs: int, metrics: dict[str, float]) -> str:
    line = f"epoch {epoch}/{epochs}  loss {metrics['loss']:.4f}"
    if "val_loss" in metrics:
        line += f"  val_loss {metrics['val_loss']:.4f}"
    return line + f"  lr {metrics['lr']:.2e}  {metrics['epoch_seconds']:.0f}s"
