"""Train the shipped toy model on the synthetic task, deterministically, and write its model card.

``python -m fep.train_toy`` trains :class:`fep.models.ToyVideoNet` on freshly generated clips (every
batch is new, so there is nothing to overfit), then measures on held-out clips (seeds the training
never saw) the accuracy on ordered clips, on clips with frames shuffled in time, with the actor
painted over by background, with the distractors removed, and on the harder :data:`HELD_OUT`
parameter set. It writes ``data/toy_model.pt`` and ``data/toy_model_card.json`` (with the weights'
sha256, which :func:`fep.models.load_model` checks) atomically.

The same seed on the same machine gives identical weights: the data comes from seeded generators and
PyTorch runs in deterministic mode during training.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from fep.atomic import atomic_write
from fep.models import DATA_DIR, TOY_CARD, TOY_WEIGHTS, ToyVideoNet, sha256_of
from fep.synthetic import CLASSES, HELD_OUT, SyntheticConfig, SyntheticVideos

__all__ = ["TRAIN_SEED", "EVAL_SEED", "train", "evaluate", "main"]

TRAIN_SEED = 1_000_000  # training clips use seeds from here on; evaluation uses seeds below it
EVAL_SEED = 0


def train(
    config: SyntheticConfig = SyntheticConfig(),
    steps: int = 500,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> ToyVideoNet:
    """Train a fresh :class:`ToyVideoNet` with Adam (constant rate, then a linear decay at the end).

    Args:
        config: clips to train on.
        steps: optimiser steps; each sees ``batch_size`` new clips.
        batch_size: clips per step.
        lr: peak learning rate.
        seed: initialisation seed (the data seeds are fixed by :data:`TRAIN_SEED`).
        progress: show a progress bar.

    Returns:
        The trained model in eval mode.
    """
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ToyVideoNet()
            data = SyntheticVideos(steps * batch_size, config, seed=TRAIN_SEED)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            # Constant, then a linear decay over the last fifth: the task is learnt in jumps (one
            # direction pair at a time) and an early decay can freeze it at 3 of 4 classes.
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda s: min(1.0, 0.1 + 0.9 * (steps - s) / (0.2 * steps))
            )
            model.train()
            bar = tqdm(range(steps), desc="training toy model", disable=not progress)
            for step in bar:
                items = [data[step * batch_size + i] for i in range(batch_size)]
                videos = torch.stack([v for v, _ in items])
                labels = torch.tensor([label for _, label in items])
                loss = F.cross_entropy(model(videos), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    finally:
        torch.use_deterministic_algorithms(deterministic)
    return model.eval()


@torch.no_grad()
def evaluate(model: torch.nn.Module, clips: int = 256, batch_size: int = 32, progress: bool = True) -> dict:
    """Held-out accuracies (in [0, 1]) under the controls described in the module docstring."""
    held = SyntheticVideos(clips, SyntheticConfig(), seed=EVAL_SEED)
    sets = {
        "ordered": held,
        "actor_removed": SyntheticVideos(clips, SyntheticConfig(), seed=EVAL_SEED, render_actor=False),
        "distractors_removed": SyntheticVideos(clips, SyntheticConfig(), seed=EVAL_SEED, render_distractors=False),
        "held_out_variant": SyntheticVideos(clips, HELD_OUT, seed=EVAL_SEED),
    }
    gen = torch.Generator().manual_seed(1)
    shuffles = [torch.randperm(held.config.frames, generator=gen) for _ in range(clips)]
    accuracy = {}
    bar = tqdm(total=clips * (len(sets) + 1), desc="evaluating", disable=not progress)
    for key, dataset in [*sets.items(), ("shuffled_frames", held)]:
        correct = 0
        for start in range(0, clips, batch_size):
            idx = range(start, min(clips, start + batch_size))
            videos = torch.stack([dataset[i][0] for i in idx])
            if key == "shuffled_frames":
                videos = torch.stack([v[:, shuffles[i]] for v, i in zip(videos, idx, strict=True)])
            labels = torch.tensor([dataset[i][1] for i in idx])
            correct += (model(videos).argmax(1) == labels).sum().item()
            bar.update(len(idx))
        accuracy[key] = correct / clips
    bar.close()
    return accuracy


def _fwd_bwd_ms(model: torch.nn.Module) -> float:
    video = torch.rand(1, 3, 16, 112, 112, requires_grad=True)
    for p in model.parameters():
        p.requires_grad_(False)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        model(video)[0, 0].backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[3] * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fep.train_toy", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="optimiser steps (default 500)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per step (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    parser.add_argument("--eval-clips", type=int, default=256, help="held-out clips per control (default 256)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder for weights and card (default data/)")
    args = parser.parse_args(argv)
    if not args.out.is_dir():
        print(f"error: output folder {args.out} does not exist; create it first.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    model = train(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    train_seconds = time.perf_counter() - started
    accuracy = evaluate(model, clips=args.eval_clips)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    weights = atomic_write(args.out / TOY_WEIGHTS, lambda f: f.write(buffer.getvalue()))
    card = {
        "model": "ToyVideoNet",
        "classes": list(CLASSES),
        "parameters": sum(p.numel() for p in model.parameters()),
        "input": "(N, 3, 16, 112, 112) RGB in [0, 1]",
        "training": {
            "command": "python -m fep.train_toy " + " ".join(argv if argv is not None else sys.argv[1:]),
            "steps": args.steps,
            "batch_size": args.batch_size,
            "clips_seen": args.steps * args.batch_size,
            "optimizer": "Adam, lr 3e-3, linear decay over the last 20 %",
            "seed": args.seed,
            "data_seeds": f"{TRAIN_SEED} .. {TRAIN_SEED + args.steps * args.batch_size - 1}",
            "data": asdict(SyntheticConfig()),
            "seconds": round(train_seconds, 1),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        },
        "evaluation": {
            "clips": args.eval_clips,
            "seeds": f"{EVAL_SEED} .. {EVAL_SEED + args.eval_clips - 1} (never used in training)",
            "accuracy": accuracy,
            "chance": 1 / len(CLASSES),
            "held_out_variant": asdict(HELD_OUT),
        },
        "fwd_bwd_ms_per_clip": round(_fwd_bwd_ms(model), 1),
        "sha256": sha256_of(weights),
    }
    atomic_write(args.out / TOY_CARD, lambda f: f.write((json.dumps(card, indent=2) + "\n").encode()))
    print(json.dumps(card["evaluation"]["accuracy"], indent=2))
    print(f"trained in {train_seconds:.0f} s; wrote {weights} and {args.out / TOY_CARD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
