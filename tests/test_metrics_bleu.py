"""seqlab's BLEU and chrF equal the sacrebleu command line on a fixture."""

import subprocess
import sys

import pytest

from seqlab.metrics import bleu, bleu_signature, chrf

REFERENCES = [
    "A man in a blue shirt is standing on a ladder.",
    "Two dogs play in the snow!",
    "the girl, smiling, rides a bike.",
]
HYPOTHESES = [
    "A man in a blue shirt stands on a ladder .",
    "Two dogs are playing in snow!",
    "The girl rides a bike, smiling.",
]


def sacrebleu_cli(tmp_path, *options: str) -> float:
    ref, hyp = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref.write_text("\n".join(REFERENCES) + "\n", encoding="utf-8")
    hyp.write_text("\n".join(HYPOTHESES) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp)]
    done = subprocess.run(
        [*command, "-b", "-w", "4", *options],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


@pytest.mark.parametrize(
    ("ours", "options"),
    [
        (lambda: bleu(HYPOTHESES, REFERENCES), ()),
        (lambda: bleu(HYPOTHESES, REFERENCES, lowercase=True), ("-lc",)),
        (lambda: chrf(HYPOTHESES, REFERENCES), ("-m", "chrf")),
    ],
    ids=["bleu", "bleu-lc", "chrf"],
)
def test_scores_equal_the_sacrebleu_command_line(tmp_path, ours, options):
    assert ours() == pytest.approx(sacrebleu_cli(tmp_path, *options), abs=1e-4)


def test_lowercasing_changes_the_score_and_the_signature_says_so():
    assert bleu(HYPOTHESES, REFERENCES) != bleu(HYPOTHESES, REFERENCES, True)
    assert "case:mixed" in bleu_signature() and "case:lc" in bleu_signature(True)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        bleu(HYPOTHESES[:2], REFERENCES)
