"""The README's first command: the demo must actually learn its task."""

from seqlab import demo


def test_demo_learns_the_running_sum():
    lines = []
    accuracy = demo.run(seed=0, steps=600, log=lines.append)
    assert accuracy > 0.9  # a model without memory gets about 0.1
    assert any("trained on length 20" in line for line in lines)
