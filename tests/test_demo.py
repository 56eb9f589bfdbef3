"""The README's first command: the date demo trains, converts and draws."""

import json

import pytest

from seqlab import demo


def test_demo_trains_converts_dates_and_reuses_its_run(tmp_path):
    pytest.importorskip("matplotlib")
    lines = []
    quick = [
        "data.size=1400",
        "data.val_size=100",
        "train.max_minutes=null",
        "train.max_steps=10",
        "train.progress=false",
        "model.hidden_size=16",
    ]
    out = tmp_path / "demo"
    result = demo.run(out, ["May 5, 2001", "1/2/03"], quick, log=lines.append)
    assert json.loads((out / "summary.json").read_text())["steps"] == 10
    assert [source for source, _ in result.conversions] == ["May 5, 2001", "1/2/03"]
    assert result.heatmap.read_bytes()[:4] == b"\x89PNG"
    again = demo.run(out, ["May 5, 2001"], quick, log=lines.append)
    assert again.conversions[0] == result.conversions[0]
    assert any("reusing" in line for line in lines)


def test_the_demo_config_is_the_documented_task():
    cfg = demo.demo_config()
    assert cfg.data.dataset == "generated_dates" and cfg.model.decoder == "attention"
    assert cfg.train.max_minutes == 2.0
