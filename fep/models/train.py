"""Train the models of the synthetic benchmark on the mixture of task families, and write their model cards.

``python -m fep.models.train --model toy`` trains :class:`fep.models.ToyVideoNet`; ``--model mc3_18`` (or
``r2plus1d_18``, ``r3d_18``) trains that torchvision architecture from scratch
(:class:`fep.models.SyntheticVideoNet`: the network with 4 outputs behind a fixed input normalisation).
Every batch is freshly generated (nothing to overfit): clip ``i`` of the run has seed
``TRAIN_SEED + i``, family ``FAMILY_NAMES[i % 5]`` and class ``(i // 5) % 4``. The model card then
measures, per family on held-out seeds the training never saw (:data:`EVAL_SEED` ...), the accuracy on
ordered clips and under three controls: the actor painted over by background (a model that uses the
actor falls to chance, 0.25), frames in reverse order (a model that reads the *direction* of motion
predicts the opposite class: near 0), and frames shuffled in time (the direction is gone, but the spread
of the actor's positions still tells the axis, so a model that reads it sits near 0.5, not 0.25).
It writes ``<name>.pt`` and ``<name>_card.json`` (with
the weights' sha256, which :func:`fep.models.load_model` checks) atomically into ``data/``.

The same seed gives the same weights on the same machine and device: the data come from seeded
generators, and PyTorch runs in deterministic mode (on CUDA with cuDNN's deterministic kernels).
``--checkpoint PATH`` saves the run every ``--checkpoint-every`` steps and resumes from it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from fep.atomic import atomic_write
from fep.data import DATA_DIR
from fep.data.synthetic import CLASSES, FAMILIES, FAMILY_NAMES, generate_clip
from fep.ep.model_state import preserved_torch_settings
from fep.models.loading import sha256_of
from fep.models.networks import SyntheticVideoNet, ToyVideoNet
from fep.models.registry import REGISTRY, TOY, ModelSpec

__all__ = ["TRAIN_SEED", "EVAL_SEED", "MixtureClips", "build_model", "train", "evaluate", "main"]

TRAIN_SEED = 1_000_000  # training clips use seeds from here on; model-card evaluation uses EVAL_SEED on
EVAL_SEED = 0  # experiments use 200_000 and up (fep.bench.runner), bundled samples 500_000 (fep.data.samples)


def trained_spec(architecture: str) -> ModelSpec:
    """The registry's entry for the model this command trains: ``"toy"`` or ``"<architecture>_synthetic"``."""
    return REGISTRY[TOY if architecture == TOY else f"{architecture}_synthetic"]


def model_files(architecture: str) -> tuple[str, str]:
    """Weights and card file names in ``data/`` for a trained model (from the registry)."""
    spec = trained_spec(architecture)
    return spec.weights_file.name, spec.card_file.name


class MixtureClips(torch.utils.data.Dataset):
    """Clip ``i``: family ``families[i % F]``, class ``(i // F) % 4``, seed ``seed + i`` → ``(video, label)``."""

    def __init__(self, length: int, families=FAMILY_NAMES, seed: int = TRAIN_SEED, **render: bool) -> None:
        self.length, self.families, self.seed, self.render = length, tuple(families), seed, render

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        family = self.families[i % len(self.families)]
        label = (i // len(self.families)) % len(CLASSES)
        clip = generate_clip(FAMILIES[family], self.seed + i, label=label, **self.render)
        return clip.video, clip.label


def build_model(name: str, seed: int = 0) -> torch.nn.Module:
    """A freshly initialised model (seeded): ``"toy"`` or one of :data:`fep.models.SYNTHETIC_ARCHITECTURES`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ToyVideoNet() if name == TOY else SyntheticVideoNet(name)


def _deterministic(device: torch.device) -> None:
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False


def train(
    name: str = "toy", steps: int = 2000, batch_size: int = 16, lr: float = 3e-3, seed: int = 0,
    device: str | torch.device = "cpu", workers: int = 0, checkpoint: Path | None = None,
    checkpoint_every: int = 200, progress: bool = True,
) -> torch.nn.Module:  # fmt: skip
    """Train ``name`` on the mixture of families with Adam(W) (constant rate, then a linear decay over
    the last fifth: the task is learnt in jumps, and an early decay can freeze it at 3 of 4 classes).

    Returns:
        The trained model in eval mode, on ``device``.
    """
    device = torch.device(device)
    with preserved_torch_settings():  # deterministic mode for the run, the caller's settings after it
        _deterministic(device)
        return _train(name, steps, batch_size, lr, seed, device, workers, checkpoint, checkpoint_every, progress)


def _train(name, steps, batch_size, lr, seed, device, workers, checkpoint, checkpoint_every, progress):
    model = build_model(name, seed).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0 if name == "toy" else 0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, 0.1 + 0.9 * (steps - s) / (0.2 * steps)))
    start = 0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start = int(state["step"])
    data = MixtureClips(steps * batch_size)
    batches = torch.utils.data.DataLoader(
        torch.utils.data.Subset(data, range(start * batch_size, steps * batch_size)),
        batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda",
    )  # fmt: skip
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()
    bar = tqdm(batches, total=steps - start, desc=f"training {name}", disable=not progress)
    for step, (videos, labels) in enumerate(bar, start=start):
        with autocast:
            loss = F.cross_entropy(model(videos.to(device, non_blocking=True)).float(), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "schedule": schedule.state_dict(), "step": step + 1}  # fmt: skip
            buffer = io.BytesIO()
            torch.save(state, buffer)
            saved = buffer.getvalue()
            atomic_write(checkpoint, lambda f: f.write(saved))  # noqa: B023 - called at once
    return model.eval()


CONTROLS = ("ordered", "reversed_frames", "shuffled_frames", "actor_removed")


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, clips: int = 128, families=FAMILY_NAMES, batch_size: int = 32,
    device: str | torch.device = "cpu", progress: bool = True, controls: tuple[str, ...] = CONTROLS,
) -> dict:  # fmt: skip
    """Held-out accuracy per family: ordered clips; frames reversed, shuffled in time; actor painted over
    (``controls`` picks which of these four to measure)."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(1)
    result = {}
    bar = tqdm(total=clips * len(controls) * len(families), desc="evaluating", disable=not progress)
    for family in families:
        ordered = MixtureClips(clips, (family,), seed=EVAL_SEED)
        no_actor = MixtureClips(clips, (family,), seed=EVAL_SEED, render_actor=False)
        shuffles = [torch.randperm(FAMILIES[family].frames, generator=gen) for _ in range(clips)]
        accuracy = {}
        datasets = dict.fromkeys(("ordered", "reversed_frames", "shuffled_frames"), ordered)
        datasets["actor_removed"] = no_actor
        for key in controls:
            dataset = datasets[key]
            correct = 0
            for first in range(0, clips, batch_size):
                idx = range(first, min(clips, first + batch_size))
                items = [dataset[i] for i in idx]
                videos = torch.stack([v for v, _ in items])
                if key == "shuffled_frames":
                    videos = torch.stack([v[:, shuffles[i]] for v, i in zip(videos, idx, strict=True)])
                elif key == "reversed_frames":
                    videos = videos.flip(2)
                labels = torch.tensor([label for _, label in items])
                correct += (model(videos.to(device)).argmax(1).cpu() == labels).sum().item()
                bar.update(len(idx))
            accuracy[key] = correct / clips
        result[family] = accuracy
    bar.close()
    return result


def _fwd_bwd_ms(model: torch.nn.Module, device: torch.device) -> float:
    video = torch.rand(1, 3, 16, 112, 112, requires_grad=True, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    times = []
    for _ in range(7):
        started = time.perf_counter()
        model(video)[0, 0].backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return sorted(times)[3] * 1e3


def _card(name, model, args, argv, seconds: float, accuracy: dict, weights: Path, device) -> dict:
    return {
        "model": name if name == "toy" else f"{name} (torchvision, from scratch, 4 classes)",
        "classes": list(CLASSES),
        "parameters": sum(p.numel() for p in model.parameters()),
        "input": "(N, 3, 16, 112, 112) RGB in [0, 1]",
        "training": {
            "command": "python -m fep.models.train " + " ".join(argv),
            "steps": args.steps,
            "batch_size": args.batch_size,
            "clips_seen": args.steps * args.batch_size,
            "optimizer": f"AdamW, lr {args.lr:g}, linear decay over the last 20 %"
            + ("" if device.type == "cpu" else "; bf16 autocast"),
            "seed": args.seed,
            "data_seeds": f"{TRAIN_SEED} .. {TRAIN_SEED + args.steps * args.batch_size - 1}",
            "families": {family: asdict(FAMILIES[family]) for family in FAMILY_NAMES},
            "seconds": round(seconds, 1),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
            + (f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""),
        },
        "evaluation": {
            "clips_per_family": args.eval_clips,
            "seeds": f"{EVAL_SEED} .. {EVAL_SEED + args.eval_clips - 1} per family (never used in training)",
            "accuracy": accuracy,
            "chance": 1 / len(CLASSES),
        },
        "fwd_bwd_ms_per_clip": round(_fwd_bwd_ms(model, device), 1),
        "weights_dtype": "float32" if name == "toy" else "float16",
        "sha256": sha256_of(weights),
    }


def _checkpoint_step(checkpoint: Path | None) -> int:
    if checkpoint is None or not checkpoint.is_file():
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["step"])


def _reevaluate(args, device: torch.device) -> int:
    """Measure the shipped weights again (e.g. on another device, or with new controls)."""
    weights_name, card_name = model_files(args.model)
    card = json.loads((args.out / card_name).read_text())
    state = torch.load(args.out / weights_name, map_location="cpu", weights_only=True)
    model = build_model(args.model)
    model.load_state_dict(state)
    model = model.eval().to(device)
    started = time.perf_counter()
    card["evaluation"]["accuracy"] = evaluate(model, args.eval_clips, device=device)
    card["evaluation"]["clips_per_family"] = args.eval_clips
    card["evaluation"]["measured"] = (
        f"python -m fep.models.train --model {args.model} --reevaluate --eval-clips {args.eval_clips} on "
        f"{platform.machine()}, {device.type}, {time.perf_counter() - started:.0f} s"
    )
    atomic_write(args.out / card_name, lambda f: f.write((json.dumps(card, indent=2) + "\n").encode()))
    print(json.dumps(card["evaluation"]["accuracy"], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m fep.models.train", description=__doc__.splitlines()[0])
    trainable = tuple(spec.architecture for spec in REGISTRY.values() if spec.shipped)  # the registry's own list
    parser.add_argument("--model", default="toy", choices=trainable)
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps (default 2000)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per step (default 16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    parser.add_argument("--eval-clips", type=int, default=128, help="held-out clips per family (default 128)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--workers", type=int, default=0, help="data-generating processes (default 0)")
    parser.add_argument("--checkpoint", type=Path, help="save every --checkpoint-every steps here; resume from it")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder for weights and card (default data/)")
    parser.add_argument(
        "--reevaluate", action="store_true",
        help="no training: measure the shipped weights in --out again and rewrite the card's evaluation",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: output folder {args.out} does not exist; create it first.", file=sys.stderr)
        return 2
    if args.device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    device = torch.device(args.device)
    if args.reevaluate:
        return _reevaluate(args, device)
    resumed = _checkpoint_step(args.checkpoint)
    started = time.perf_counter()
    model = train(args.model, args.steps, args.batch_size, args.lr, args.seed, device, args.workers,
                  args.checkpoint, args.checkpoint_every)  # fmt: skip
    seconds = time.perf_counter() - started
    accuracy = evaluate(model, args.eval_clips, device=device)
    state = model.state_dict() if args.model == "toy" else {k: v.half() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in state.items()}, buffer)
    weights_name, card_name = model_files(args.model)
    weights = atomic_write(args.out / weights_name, lambda f: f.write(buffer.getvalue()))
    card = _card(args.model, model, args, argv, seconds, accuracy, weights, device)
    if resumed:  # the seconds above are this process's only
        card["training"]["resumed_from_step"] = resumed
    atomic_write(args.out / card_name, lambda f: f.write((json.dumps(card, indent=2) + "\n").encode()))
    print(json.dumps(accuracy, indent=2))
    print(f"trained in {seconds:.0f} s; wrote {weights} and {args.out / card_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
