"""Collect ``results/performance/*.json`` into ``SUMMARY.md`` with two plots (quality vs iterations,
overhead bars), each target stated as met or not with its measured number.

Run: ``python benchmarks/summarize.py`` (``make bench`` runs it last).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS  # noqa: E402


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def convergence_plot(data: dict, path: Path) -> None:
    fig = Figure(figsize=(10, 3.6))
    for ax, key, label in zip(fig.subplots(1, 2), ("kept_prob", "gt_ap"), ("kept-voxel probability (a = 0.1)",
                                                                          "ground-truth AP"), strict=True):  # fmt: skip
        for method, style in (("ep3d", "o-"), ("fep", "s-")):
            rows = sorted((r for r in data["rows"] if r["method"] == method), key=lambda r: r["k"])
            name = "3D-EP (TorchRay schedule)" if method == "ep3d" else "F-EP (package defaults)"
            ax.plot([r["k"] for r in rows], [r[key] for r in rows], style, label=name)
        ref = next(r for r in data["rows"] if r["method"] == "ep3d" and r["k"] == max(data["settings"]["ks"]))
        ax.axhline(ref[key] - data["tolerance"], color="grey", ls=":", label="800-it 3D-EP - tolerance")
        ax.set_xscale("log")
        ax.set_xlabel("iterations k")
        ax.set_title(label)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def overhead_plot(explain: dict | None, torchray: dict | None, path: Path) -> None:
    fig = Figure(figsize=(8, 3.4))
    ax = fig.subplots()
    labels, values = [], []
    for row in (explain or {}).get("rows", []):
        for method in ("fep", "ep3d", "step"):
            labels.append(f"{row['model']}\n{method}")
            values.append(row[f"{method}_ratio"])
    if torchray:
        bare = torchray["bare_ms"]
        for name in ("fep", "torchray"):
            labels.append(f"resnet18 224\n{name}")
            values.append(torchray["iteration_ms"][name] / bare)
    ax.bar(range(len(values)), values, color=["tab:blue" if "torchray" not in lab else "tab:red" for lab in labels])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_ylabel("iteration / bare fwd+bwd")
    ax.set_title("Per-iteration cost relative to one bare forward+backward (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _auto_and_gpu() -> list[str]:
    """P5 (stop when done) and P6 (absolute times on a GPU, named)."""
    lines = ["", "## P5 stop when done (`bench_auto.py`)", ""]
    auto = _load("auto")
    if auto:
        lines.append(f"The table and its paired differences: [auto.md](auto.md) ({auto['clips']} clips).")
        fep = auto.get("table", {}).get("fep")
        if fep:
            mean = fep["auto"]["summary"]["iterations"][0]
            lines.append(
                f"- F-EP, `iterations=\"auto\"` (warm start): {mean:.1f} iterations per mask on average; target "
                f"<= 40: {_verdict(mean <= 40)}; {fep['auto']['seconds']:.0f} s against "
                f"{fep['fixed-100']['seconds']:.0f} s for a fixed 100."
            )
        cli = auto.get("cli")
        if cli:
            lines.append(
                f"- `fep explain`, r2plus1d_18, 16x112x112, default areas: auto {cli['auto']:.1f} s vs "
                f"`--iterations 100` {cli['fixed-100']:.1f} s = {cli['ratio']:.2f}x; target <= 0.45: "
                f"{_verdict(cli['ratio'] <= 0.45)}."
            )
    lines += ["", "## P6 on a GPU (`device_check.sh`: `bench_explain.py --device cuda`, `bench_gpu.py`)", ""]
    gpu, overhead = _load("gpu"), _load("explain_overhead_cuda")
    if overhead:
        lines += [f"Per-iteration overhead on **{overhead['cuda']}** (torch {overhead['torch']}):", ""]
        lines += ["| model | bare ms | F-EP | 3D-EP | STEP |", "|---|---|---|---|---|"]
        for row in overhead["rows"]:
            cells = [f"{row[m + '_ms']:.1f} ms = {row[m + '_ratio']:.2f}x" for m in ("fep", "ep3d", "step")]
            lines.append(f"| {row['model']} | {row['bare_ms']:.1f} | " + " | ".join(cells) + " |")
        lines.append("")
    if gpu:
        lines += [f"Whole explanations on **{gpu['cuda']}** (median of 3 after a warm-up):", ""]
        lines += ["| model | areas | defaults | iterations | autocast | seconds | iterations used |", "|---" * 7 + "|"]
        for row in gpu["rows"]:
            lines.append(
                f"| {row['model']} | {row['areas']} | {row.get('defaults', 'current')} | {row['iterations']} | "
                f"{row['autocast'] or 'float32'} | {row['seconds']:.2f} | {row['iterations_used']} |"
            )
    return lines


def _speed_paths() -> list[str]:
    speed = _load("speed_paths")
    lines = ["", "## CPU speed paths (`bench_speed_paths.py`)", ""]
    if not speed:
        return lines + ["Not measured yet."]
    bare = speed["bare_forward_backward_s"]
    lines += [f"{speed['model']}, one clip {speed['clip']}, median of {speed['repeats']} side by side.", "",
              "| bare forward+backward | seconds |", "|---|---|"]  # fmt: skip
    lines += [f"| {name} | {s:.2f} |" for name, s in bare.items()]
    lines += ["", f"| F-EP, areas {speed['areas']} | seconds | bare batch-1 passes | iterations |", "|---|---|---|---|"]
    for name, s in speed["median_s"].items():
        used = speed["runs"][name][-1]["iterations_used"]
        lines.append(f"| {name} | {s:.1f} | {speed['bare_passes'][name]:.0f} | {used} |")
    lines += ["", f"channels_last / contiguous: {speed['ratio']:.2f}; the largest difference between their masks "
              f"{speed['max_mask_difference']:.1e} (float sums in another order, over every iteration). "
              "An option (`memory_format=\"channels_last\"`), not yet a default."]  # fmt: skip
    return lines


def _fast_defaults() -> list[str]:
    """Faster named defaults against 2026-12: wall time side by side, paired quality, a compiled pass."""
    lines = ["", "## Faster defaults against 2026-12 (`bench_fast_defaults.py`)", ""]
    timing = _load("fast_defaults_time")
    name_new = "2026-12b"  # what a run that did not record its names compared
    if timing:
        name_old, name_new = timing.get("old", "2026-12"), timing.get("new", name_new)
        old, new = timing["median_s"][name_old], timing["median_s"][name_new]
        passes = timing["bare_passes"][name_new]
        lines += [f"{timing['model']}, one clip {timing['clip']}, F-EP at areas {timing['areas']}, median of "
                  f"{timing['repeats']} side by side; one bare batch-1 forward+backward "
                  f"{timing['bare_forward_backward_s']:.2f} s.", "",
                  "| defaults | seconds | bare passes | iterations per mask | sweep |", "|---" * 5 + "|"]  # fmt: skip
        for name, seconds in timing["median_s"].items():
            run = timing["runs"][name][-1]
            lines.append(f"| {name} | {seconds:.1f} | {timing['bare_passes'][name]:.1f} | {run['iterations_used']} | "
                         f"{run['ran']['sweep']} |")  # fmt: skip
        lines += ["", f"Ratio {name_new} / {name_old} {new / old:.3f}, target <= 0.35: {_verdict(new / old <= 0.35)}; "
                  f"{passes:.1f} bare passes, target <= 35: {_verdict(passes <= 35)}."]  # fmt: skip
    for model in ("toy", "mc3_18_synthetic"):
        quality = _load(f"fast_defaults_{model}")
        if not quality:
            lines += ["", f"Quality on {model}: not measured yet."]
            continue
        tests = {t["metric"]: t for t in quality["tests"]}
        cells = []
        for metric in ("insertion_margin_auc", "game_keep"):
            d, ci, n = tests[metric]["difference"]
            cells.append(f"{metric} {d:+.3f} ± {ci:.3f} (lower end {d - ci:+.3f}, n = {n})")
        ok = all(tests[m]["difference"][0] - tests[m]["difference"][1] > -0.02
                 for m in ("insertion_margin_auc", "game_keep"))  # fmt: skip
        lines += ["", f"Quality on {model}, {len(quality['clips'])} test clips, "
                  f"{quality['new']} − {quality['old']} (95 % t): "
                  + "; ".join(cells) + f". Non-inferior (lower end above −0.02): {_verdict(ok)}. "
                  f"Every metric: [fast_defaults_{model}.md](fast_defaults_{model}.md)."]  # fmt: skip
    compiled = _load("compile_model")
    if compiled and compiled.get("compiled_s") is not None:
        measured = compiled["explanation_bare_passes"]
        name = name_new if name_new in measured else next(iter(measured))
        even, needed = compiled.get("break_even_passes"), measured[name]
        pays = "pays" if even is not None and even < needed else "does not pay"
        lines += ["", f"torch.compile of {compiled['model']}'s pass: eager {compiled['eager_s']:.2f} s, compiled "
                  f"{compiled['compiled_s']:.2f} s after {compiled['compile_s']:.0f} s of compiling (empty cache); "
                  f"break-even after {'never' if even is None else f'{even:.0f}'} passes, against {needed:.0f} "
                  f"for a {name} explanation: {pays}."]  # fmt: skip
    return lines


def main() -> None:
    explain, convergence = _load("explain_overhead"), _load("convergence")
    torchray, memory = _load("torchray"), _load("memory")
    lines = ["# Benchmark summary", "", "Written by `python benchmarks/summarize.py` from the JSON files beside it."]
    lines += [
        "",
        "> P2 and P3 were measured while TorchRay's horizontal-flip jitter was on by default (it is off since "
        "a later change: a mirrored \"moves left\" clip is \"moves right\"); their EP quality numbers are rerun with "
        "the current defaults by a later issue. P1, P4 and P6 do not depend on it; P5 ran without it.",
    ]
    lines.append("")
    first = next((d for d in (explain, convergence, torchray, memory) if d), None)
    if first:
        lines += [f"Machine: {first['processor']}, {first['cpu_count']} CPUs, {first['threads']} torch threads, "
                  f"torch {first['torch']}, GPU: {first['cuda'] or 'none'}.", ""]  # fmt: skip

    lines += ["## P1 per-iteration overhead (`bench_explain.py`)", ""]
    if explain:
        lines += ["| model | batch | bare ms | F-EP | 3D-EP | STEP | target | verdict |", "|---" * 8 + "|"]
        for row in explain["rows"]:
            target = 1.5 if row["model"] == "tiny" else 1.10
            lines.append(
                f"| {row['model']} | {len(row['areas'])}x{tuple(row['input'][1:])} | {row['bare_ms']:.0f} | "
                f"{row['fep_ratio']:.2f}x | {row['ep3d_ratio']:.2f}x | {row['step_ratio']:.2f}x | <= {target} | "
                f"{_verdict(row['fep_ratio'] <= target)} |"
            )
    lines += ["", "## P2 convergence (`bench_convergence.py`)", ""]
    if convergence:
        s = convergence["settings"]
        lines += [f"{s['clips']} held-out synthetic clips, toy model, area {s['area']}, tolerance "
                  f"{convergence['tolerance']}; complete: {convergence['complete']}.", "",
                  "| method | k | kept prob | GT AP | wall s (all clips) |", "|---|---|---|---|---|"]  # fmt: skip
        for row in sorted(convergence["rows"], key=lambda r: (r["method"], r["k"])):
            lines.append(f"| {row['method']} | {row['k']} | {row['kept_prob']:.4f} | {row['gt_ap']:.4f} | "
                         f"{row['wall_s']:.1f} |")  # fmt: skip
        k = convergence.get("fep_matches_ep3d_800_at_k")
        lines += [
            "",
            f"F-EP matches 800-iteration 3D-EP at k = {k}; target k <= 150: {_verdict(k is not None and k <= 150)}.",
            "",
            "![quality vs iterations](convergence.png)",
        ]
        convergence_plot(convergence, RESULTS / "convergence.png")
    lines += ["", "## P3 versus TorchRay (`bench_torchray.py`)", ""]
    if torchray:
        o, d, fep_runs = torchray["overhead"], torchray["torchray_default"], torchray["fep_runs"]
        ratio = torchray["wall_ratio_to_equal_quality"]
        lines += [
            f"resnet18 (weights=None) at {torchray['size']} px, areas {torchray['areas']}; bare batched fwd+bwd "
            f"{torchray['bare_ms']:.0f} ms.",
            "",
            f"- Overhead per iteration: fep {o['fep_ms']:.1f} ms, TorchRay {o['torchray_ms']:.1f} ms, ratio "
            f"{o['ratio']:.3f}{' (negative: below the timing noise)' if o['ratio'] < 0 else ''}; "
            f"target <= 0.2: {_verdict(o['ratio'] <= 0.2)}.",
            f"- TorchRay {d['iterations']} iterations: {d['wall_s']:.1f} s, quality {d['quality']:.4f}; fep runs: "
            + ", ".join(f"{r['iterations']} it {r['wall_s']:.1f} s quality {r['quality']:.4f}" for r in fep_runs),
            f"- Wall time to equal quality fep / TorchRay = {ratio if ratio is None else round(ratio, 3)}; target "
            f"<= 0.25: {_verdict(ratio is not None and ratio <= 0.25)}.",
        ]
        trade = torchray.get("trade_off") or {}
        if trade:
            labels = {"fep": "F-EP defaults (spatial cutoff 0.25)", "ep3d": "fep plain EP (`method='ep3d'`)"}
            seeds = len(next(iter(trade.values())).get("seeds", [None]))
            lines += [
                "",
                f"Trade-off on this image, each fep row over {seeds} seeds (quality: mean, min–max; wall: median). "
                "Spatial TV is the roughness of the masks (lower = smoother); 'equal quality' needs the worst "
                "seed within 1 % of TorchRay:",
                "",
                "| run | iterations | wall s | wall / TorchRay | quality | spatial TV | equal quality |",
                "|---|---|---|---|---|---|---|",
                f"| TorchRay | {d['iterations']} | {d['wall_s']:.1f} | 1 | {d['quality']:.4f} | "
                f"{d.get('spatial_tv', float('nan')):.4f} | — |",
            ]
            for name, row in trade.items():
                label = labels.get(name) or f"F-EP spatial cutoff {row['spatial_cutoff']}"
                spread = f" ({row['quality_min']:.4f}–{row['quality_max']:.4f})" if "quality_min" in row else ""
                lines.append(
                    f"| {label} | {row['iterations']} | {row['wall_s']:.1f} | {row['wall_ratio']:.3f} | "
                    f"{row['quality']:.4f}{spread} | {row['spatial_tv']:.4f} | "
                    f"{'yes' if row['matches_torchray'] else 'no'} |"
                )
            lines += [
                "",
                "TorchRay's masks are the smoothest here: it upsamples the mask grid with a Gaussian smooth-max "
                "(fep: bilinear, one interpolation instead of a 25-neighbour softmax per pixel) and runs 8x the "
                "iterations. Within fep, F-EP's low-pass halves the roughness of plain EP at no loss of quality.",
            ]
        lines += [
            "",
            "![overhead](overhead.png)",
        ]
    elif (RESULTS / "torchray_run.log").exists():
        lines += ["No complete `torchray.json`; the printed output of the last (interrupted) run:", "", "```"]
        lines += [(RESULTS / "torchray_run.log").read_text().rstrip(), "```"]
    lines += ["", "## P4 peak memory (`bench_memory.py`)", ""]
    if memory:
        lines += [
            "The target is judged on the tensors (the CPU counterpart of `torch.cuda.max_memory_allocated`); the "
            "resident-set growth also counts library code paged in on first use, thread pools and the C "
            "allocator's free lists.",
            "",
            "| model | bare tensors MiB | F-EP tensors MiB | tensor ratio (<= 1.3) | resident-set growth ratio | "
            "whole-process ratio |",
            "|---|---|---|---|---|---|",
        ]
        for row in memory["rows"]:
            tensors = row.get("tensor_peak_mib")
            lines.append(
                f"| {row['model']} | {tensors['bare']:.1f} | {tensors['fep']:.1f} | {row['tensor_ratio']:.2f}x "
                f"{_verdict(row['tensor_ratio'] <= 1.3)} | {row['increment_ratio']:.2f}x "
                f"({row['increment_mib']['bare']:.0f} -> {row['increment_mib']['fep']:.0f} MiB) | "
                f"{row['process_ratio']:.2f}x |"
                if tensors
                else f"| {row['model']} | — | — | — | {row['increment_ratio']:.2f}x | {row['process_ratio']:.2f}x |"
            )
        toy = next((row for row in memory["rows"] if row["model"] == "toy" and "tensor_peak_mib" in row), None)
        if toy and toy["tensor_ratio"] > 1.3:
            pyramid = 8 * 3 * 16 * 112 * 112 * 4 / 2**20  # 8 levels of the 3x16x112x112 float32 clip
            rest = (toy["tensor_peak_mib"]["fep"] - pyramid) / toy["tensor_peak_mib"]["bare"]
            lines += [
                "",
                f"What keeps the toy above 1.3: the 8-level blur pyramid of the clip ({pyramid:.1f} MiB; TorchRay "
                f"keeps the same), {pyramid / toy['tensor_peak_mib']['bare']:.0%} of the whole bare pass of this "
                f"40k-parameter model. Everything else F-EP holds comes to {rest:.2f}x. On r2plus1d_18 the pyramid "
                "is lost in the model's activations.",
            ]
    compiled = _load("compile")
    lines += ["", "## torch.compile (`bench_compile.py`)", ""]
    if compiled and compiled.get("compiled_ms") is not None:
        even = compiled.get("break_even_iterations")
        lines.append(
            f"fep's own work per iteration (mask upsampling, area loss, masked clips, their backward; toy sizes): "
            f"eager {compiled['eager_ms']:.1f} ms, compiled {compiled['compiled_ms']:.1f} ms after "
            f"{compiled['compile_s']:.1f} s of compiling (empty cache). Break-even after "
            f"{'never' if even is None else f'{even:.0f}'} iterations, against a default run of 100: not used."
        )
    elif compiled:
        lines.append("torch.compile did not run on this machine: not used.")
    lines += _speed_paths()
    lines += _fast_defaults()
    lines += _auto_and_gpu()
    overhead_plot(explain, torchray, RESULTS / "overhead.png")
    (RESULTS / "SUMMARY.md").write_text("\n".join(lines) + "\n")
    print(RESULTS / "SUMMARY.md")


if __name__ == "__main__":
    main()
