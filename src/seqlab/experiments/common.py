"""What every experiment shares: its description, context, outputs and report.

An experiment is a function ``run(ctx) -> results`` returning a JSON-able dict::

    {"setup": "what was run", "tables": [{"title", "columns", "rows"}],
     "plots": ["file.png", ...], "reading": "one paragraph",
     "held": True | False | None, "rule": "the rule held was computed by",
     "budget": "the training budget, in steps",
     ...any raw data (curves, per-seed values)}

built by :func:`outcome`, which every ``summarize`` calls. The rule is stated in code
before the run (each module's ``RULE``) and ``held`` computed from the measurements by
it; :func:`separated` is the usual test ("A's mean exceeds B's by more than 2
standard errors of the difference"). :func:`run_experiment` adds the facts of the
run (name, claim, mode, seeds, the verdict word, command, hardware, run time) and
writes ``results.json``, the plots and ``report.md``. The report is rendered from the
results alone (:func:`render_report`), so it cannot state a figure that
``results.json`` does not hold. Budgets are steps, never minutes: a quality figure
measured at a wall-clock budget moves with the load of a shared machine.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

HELD = {True: "held", False: "not held", None: "inconclusive"}
VERDICTS = tuple(HELD.values())  # the words results.json, reports and READMEs use


@dataclass(frozen=True)
class Experiment:
    name: str
    claim: str  # the articles' claim it tests
    run: Callable[[Context], dict[str, Any]]
    minutes_full: float  # expected run time on one CPU core, default seeds
    minutes_quick: float  # the same with --quick, 1 seed
    seeds_full: int = 3  # the default seeds of a full run


@dataclass
class Context:
    out_dir: Path
    quick: bool = False
    seeds: int = 1
    log: Callable[[str], None] = print
    smoke: bool = False  # tests only: smaller still than quick, to check the plumbing
    # reuse / continue the runs an earlier invocation left in out_dir (--resume)
    resume: bool = False
    plots: list[str] = field(default_factory=list)

    def pick(self, full: Any, quick: Any, smoke: Any = None) -> Any:
        """The size for this mode: full, quick, or smoke (default: quick's)."""
        if self.smoke and smoke is not None:
            return smoke
        return quick if self.quick or self.smoke else full

    def plot_path(self, name: str) -> Path:
        """Where to save plot ``name`` (a .png); it is listed in the report."""
        self.plots.append(name)
        return self.out_dir / name


def run_experiment(
    exp: Experiment,
    out_dir: str | Path,
    *,
    quick: bool = False,
    seeds: int | None = None,
    log: Callable[[str], None] = print,
    smoke: bool = False,
    threads: int = 1,
    resume: bool = False,
) -> dict[str, Any]:
    """Run ``exp``, write results.json, report.md and its plots into out_dir.

    ``smoke`` (tests) shrinks a quick run further: it checks that every piece runs
    and writes its outputs, not the claim. ``threads``: torch's CPU threads during
    the run. One by default: the experiments' models are small, and on a busy CPU
    OpenMP threads wait on each other (activations in smoke mode, 2 cores shared
    with other jobs: 24 s on one thread, 311 s on two). ``resume``: reuse the
    seqlab runs an earlier invocation finished in out_dir/runs and continue the one
    it left part-way (:func:`seqlab.experiments.runs.train`), so an experiment of
    hours survives being stopped; run_seconds then counts this invocation only.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quick = quick or smoke
    default_seeds = 1 if quick else exp.seeds_full
    seeds = seeds or default_seeds
    minutes = exp.minutes_quick if quick else exp.minutes_full
    minutes *= seeds / default_seeds  # the estimates are for the default seeds
    log(
        f"{exp.name}: expected run time about {minutes:.3g} min on one CPU core "
        f"({'quick' if quick else 'full'} run, {seeds} seed(s))"
    )
    ctx = Context(out_dir, quick, seeds, log, smoke, resume)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        results = exp.run(ctx)
        results.update(
            run_seconds=round(time.perf_counter() - start, 1), hardware=hardware()
        )
    finally:
        torch.set_num_threads(previous_threads)
    results.update(
        name=exp.name,
        claim=exp.claim,
        mode="smoke" if smoke else ("quick" if quick else "full"),
        seeds=seeds,
        verdict=HELD[results.get("held")],
        command=f"seqlab experiment {exp.name}{' --quick' if quick else ''} "
        f"--seeds {seeds} --threads {threads}",
        plots=ctx.plots,
        resumed=resume,
    )
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "report.md").write_text(render_report(results), encoding="utf-8")
    return results


def hardware() -> str:
    """The device the run used, as a report names it (CPU model from /proc/cpuinfo
    where Linux has one: platform.processor() is often empty there)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"CPU ({cpu}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def render_report(results: dict[str, Any]) -> str:
    """report.md from results.json's content alone."""
    lines = [
        f"# Experiment `{results['name']}`",
        "",
        f"**Claim** (from the articles): {results['claim']}",
        "",
        f"**Verdict: {HELD[results.get('held')]}.** Rule, stated before the run: "
        f"{results.get('rule', 'not stated')}.",
        "",
        "## What was run",
        "",
        results["setup"],
        "",
        f"Command: `{results['command']}`; {results['mode']} run, "
        f"{results['seeds']} seed(s), budget {results.get('budget', 'not stated')}; "
        f"{results['run_seconds']} s on {results['hardware']}.",
        "",
        "## Figures",
        "",
    ]
    for table in results.get("tables", []):
        lines += [f"**{table['title']}**", "", *markdown_table(table), ""]
    lines += [f"![{p}]({p})" for p in results.get("plots", [])]
    lines += ["", "## Reading", "", results["reading"], ""]
    return "\n".join(lines)


def markdown_table(table: dict[str, Any]) -> list[str]:
    columns = table["columns"]

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")  # ||dL/dh|| must not split a cell

    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in table["rows"]]
    return lines


def outcome(
    *,
    setup: str,
    rule: str,
    held: bool | None,
    reading: str,
    budget: str,
    tables: Sequence[dict[str, Any]] = (),
    **raw: Any,
) -> dict[str, Any]:
    """What a ``summarize`` returns: the run's description, its rule and verdict, its
    tables, and ``raw`` (curves, per-seed values) kept in results.json."""
    if held not in (True, False, None):
        raise TypeError(f"held must be True, False or None, got {held!r}")
    return {
        "setup": setup,
        "rule": rule,
        "held": held,
        "budget": budget,
        "tables": list(tables),
        "reading": reading,
        **raw,
    }


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence]) -> dict:
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def settings_table(
    title: str,
    settings: dict[str, dict[str, Any]],
    metrics: dict[str, tuple[str, int]],
    seconds: str | None = "seconds",
) -> dict:
    """One row per setting: each metric as mean ± std (``metrics`` maps a key of
    the setting's dict, a :func:`spread`, to its column title and digits), and the
    wall time beside it (key ``seconds``, also a spread) unless None."""
    columns = ["setting", *(title_ for title_, _ in metrics.values())]
    if seconds:
        columns.append("wall time (s)")
    rows = []
    for name, values in settings.items():
        row = [name, *(fmt(values[k], d) for k, (_, d) in metrics.items())]
        if seconds:
            row.append(fmt(values[seconds], 1))
        rows.append(row)
    return table(title, columns, rows)


def std_error(stats: dict[str, float], n: int) -> float:
    return stats["std"] / math.sqrt(n) if n > 1 else math.inf


def separated(
    high: dict[str, float], low: dict[str, float], n: int, z: float = 2.0
) -> bool | None:
    """Whether ``high``'s mean exceeds ``low``'s by more than ``z`` standard errors
    of the difference (two :func:`spread` over ``n`` seeds each). With one seed (a
    --quick smoke run) there is no error to measure, and a diverged (infinite) mean
    has none: the plain comparison (inf exceeds every finite mean)."""
    finite = math.isfinite(high["mean"]) and math.isfinite(low["mean"])
    if n < 2 or not finite:
        return high["mean"] > low["mean"]
    error = math.hypot(std_error(high, n), std_error(low, n))
    return high["mean"] - low["mean"] > z * error


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and standard deviation over seeds (std 0 for one seed); a diverged run
    (inf) makes both inf."""
    values = [float(v) for v in values]
    if not all(math.isfinite(v) for v in values):
        return {"mean": math.inf, "std": math.inf}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std}


def fmt(stats: dict[str, float], digits: int = 3) -> str:
    """'mean ± std' as the report prints it."""
    mean = stats["mean"]
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.{digits}f} ± {stats['std']:.{digits}f}"


def spread_bars(
    ax, results: dict, key: str, ylabel: str, scale: float = 1.0, **bar
) -> None:
    """One bar per setting: ``results[name][key]`` mean with its std as error bar."""
    names = list(results)
    ax.bar(
        range(len(names)),
        [scale * results[n][key]["mean"] for n in names],
        yerr=[scale * results[n][key]["std"] for n in names],
        capsize=4,
        **bar,
    )
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=7)
    ax.set_ylabel(ylabel)


def seed0_curves(
    ax, results: dict, xlabel: str, ylabel: str, log: bool = False, **line
) -> None:
    """One line per setting: its first seed's ``curves`` ([[x, value], ...])."""
    for name, r in results.items():
        curve = r["curves"][0]
        ax.plot([x for x, _ in curve], [v for _, v in curve], label=name, **line)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel}, seed 0")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)


def pyplot():
    """matplotlib's pyplot on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
