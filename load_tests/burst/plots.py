"""PNG plots of a run (matplotlib, no display): send rate, answer rate, latency percentiles, CPU."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from load_tests.burst.report import per_second


def _relative(times: list[float], zero: float) -> list[float]:
    return [t - zero for t in times]


def _phase_marks(ax, phases: list[dict], zero: float) -> None:
    for phase in phases:
        ax.axvspan(phase["start"] - zero, phase["end"] - zero, alpha=0.07, color="tab:gray")
        ax.text(
            phase["start"] - zero,
            1.0,
            f" {phase['name']}",
            transform=ax.get_xaxis_transform(),
            va="top",
            fontsize=8,
            color="dimgray",
        )


def send_rate(
    path: Path, *, accepted: list[float], sent: list[float], limit: float, zero: float, phases: list[dict]
) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    for label, times in (("accepted by the simulator", accepted), ("marked sent in the outbox", sent)):
        t, n = per_second(times)
        if t:
            ax.plot(_relative(t, zero), n, label=label, linewidth=1)
    if limit:
        ax.axhline(limit, color="tab:red", linestyle="--", linewidth=0.8, label=f"simulator limit {limit:g}/s")
        ax.axhline(limit * 0.95, color="tab:red", linestyle=":", linewidth=0.8, label="target 0.95 × limit")
    _phase_marks(ax, phases, zero)
    ax.set(xlabel="seconds since the round started", ylabel="messages / s", title="Sending")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def answer_rate(path: Path, *, answers: dict[str, list[float]], zero: float, phases: list[dict]) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    for channel, times in sorted(answers.items()):
        t, n = per_second(times)
        if t:
            ax.plot(_relative(t, zero), n, label=channel, linewidth=1)
    _phase_marks(ax, phases, zero)
    ax.set(xlabel="seconds since the round started", ylabel="answers recorded / s", title="Answers by channel")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency(path: Path, *, series_by_phase: dict[str, dict[str, dict[str, list[float]]]], zero: float) -> None:
    panels = [(phase, series) for phase, series in series_by_phase.items() if series]
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels)), squeeze=False)
    for ax, (phase, series) in zip(axes[:, 0], panels, strict=False):
        for name, s in sorted(series.items()):
            rel = _relative(s["t"], zero)
            (line,) = ax.plot(rel, s["99%"], linewidth=1, label=f"{name} p99")
            ax.plot(rel, s["95%"], linewidth=0.8, linestyle="--", color=line.get_color(), label=f"{name} p95")
            ax.plot(rel, s["50%"], linewidth=0.8, linestyle=":", color=line.get_color(), label=f"{name} p50")
        ax.axhline(200, color="tab:red", linewidth=0.6, linestyle="--")
        ax.set(ylabel="ms", title=f"Latency percentiles (Locust, 10 s window): {phase}")
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize=6, ncol=3)
    axes[-1, 0].set_xlabel("seconds since the round started")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput(path: Path, *, series_by_phase: dict[str, dict[str, dict[str, list[float]]]], zero: float) -> None:
    fig, ax = plt.subplots(figsize=(10, 4))
    for phase, series in series_by_phase.items():
        for name, s in sorted(series.items()):
            if s["t"]:
                ax.plot(_relative(s["t"], zero), s["rps"], linewidth=1, label=f"{phase}: {name}")
    ax.axhline(1000, color="tab:red", linewidth=0.6, linestyle="--", label="target 1,000/s")
    ax.set(xlabel="seconds since the round started", ylabel="requests / s", title="Throughput (Locust)")
    ax.legend(loc="upper right", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu(
    path: Path, *, times: list[float], by_component: dict[str, list[float]], zero: float, cores: int, phases: list[dict]
) -> None:
    if not times:
        return
    fig, ax = plt.subplots(figsize=(10, 4))
    names = [n for n in by_component if any(by_component[n])]
    ax.stackplot(_relative(times, zero), [by_component[n] for n in names], labels=names, alpha=0.8)
    ax.axhline(cores, color="black", linewidth=0.6)
    _phase_marks(ax, phases, zero)
    ax.set(xlabel="seconds since the round started", ylabel="cores", title="CPU by component")
    ax.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
