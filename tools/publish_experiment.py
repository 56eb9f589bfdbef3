"""Publish a full experiment run: copy it into docs/experiments/NAME and write its
verdict, figures, tables and plots into docs/EXPERIMENTS.md.

    python tools/publish_experiment.py experiments/long-memory \
        --pin "OMP_NUM_THREADS=1 nice -n 5 taskset -c 0" \
        --note "one core; the other core ran another experiment"

The run's report.md, results.json and PNG plots are copied (its runs/ folder of
checkpoints is not). In EXPERIMENTS.md the experiment's section keeps its claim,
design and rule; the "not run yet" paragraph (or the previous run's block, from
"**Verdict:" to "The run's `results.json`") is replaced, and the verdict cell of
the claims table is set. The README tables carry a figure per claim and are edited
by hand; tests/test_experiments.py checks their verdicts against results.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import sys

from seqlab.experiments.common import markdown_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "EXPERIMENTS.md"


def block(name: str, r: dict, pin: str, note: str) -> str:
    minutes = r["run_seconds"] / 60
    command = f"{pin} {r['command']} --out docs/experiments/{name}".strip()
    parts = [
        f"**Verdict: {r['verdict']}.** {r['reading']}",
        f"Command: `{command}`; {r['mode']} run, {r['seeds']} seeds, budget "
        f"{r['budget']}; {minutes:.1f} min on {r['hardware']}"
        + (f" ({note})" if note else "")
        + ".",
        r["setup"],
        *(
            "\n".join([f"**{t['title']}**", "", *markdown_table(t)])
            for t in r.get("tables", [])
        ),
        "\n".join(f"![{p}](experiments/{name}/{p})" for p in r.get("plots", [])),
        f"The run's `results.json` and `report.md`: `docs/experiments/{name}/`.",
    ]
    return "\n\n".join(p for p in parts if p)


def update_doc(text: str, name: str, r: dict, pin: str, note: str) -> str:
    start = text.index(f"### `{name}`\n")
    end_match = re.compile(r"^##+ ", re.M).search(text, start + 4)
    end = end_match.start() if end_match else len(text)
    section = text[start:end]
    new = block(name, r, pin, note)
    old = re.search(
        r"\*\*Verdict: not run yet\.\*\*[^\n]*"
        r"|\*\*Verdict: [^*]+\*\*.*?The run's `results.json` and `report.md`: [^\n]*",
        section,
        re.S,
    )
    if old is None:
        sys.exit(f"{DOC}: no verdict paragraph in the section of {name}")
    section = section[: old.start()] + new + section[old.end() :]
    text = text[:start] + section + text[end:]
    row = re.compile(
        rf"^(\| \d+ \| \[`{re.escape(name)}`\][^\n]*\| )([^|\n]+)( \|)$", re.M
    )
    text, n = row.subn(lambda m: m.group(1) + r["verdict"] + m.group(3), text)
    if n != 1:
        sys.exit(f"{DOC}: no row of {name} in the claims table")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=pathlib.Path, help="the experiment's --out folder")
    parser.add_argument("--pin", default="", help="what the command ran under")
    parser.add_argument("--note", default="", help="the machine's load, in words")
    args = parser.parse_args()
    r = json.loads((args.run / "results.json").read_text())
    name = r["name"]
    if r.get("mode") != "full":
        sys.exit(f"{args.run}: a {r.get('mode')} run; publish full runs only")
    dest = ROOT / "docs" / "experiments" / name
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    for path in [args.run / "report.md", args.run / "results.json"]:
        shutil.copy(path, dest / path.name)
    for plot in r.get("plots", []):
        shutil.copy(args.run / plot, dest / plot)
    DOC.write_text(update_doc(DOC.read_text(), name, r, args.pin, args.note))
    print(f"{name}: {r['verdict']}; copied to {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
