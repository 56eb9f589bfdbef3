"""YAML loading, dotted overrides, validation errors and round-trips of config."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError

from seqlab.config import (
    ConfigError,
    Section,
    apply_overrides,
    dump_config,
    load_config,
    load_yaml,
    save_config,
    validate,
)

# ------------------------------------------------------------ example schema


class LSTMLMConfig(Section):
    kind: Literal["lstm_lm"] = "lstm_lm"
    hidden_size: int = Field(256, gt=0)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)


class TransformerConfig(Section):
    kind: Literal["transformer"] = "transformer"
    d_model: int = Field(128, gt=0)
    n_heads: int = 4


ModelConfig = Annotated[LSTMLMConfig | TransformerConfig, Field(discriminator="kind")]


class TrainConfig(Section):
    lr: float = Field(1e-3, gt=0)
    clip_norm: float | None = Field(None, gt=0)
    epochs: int = Field(1, ge=1)
    betas: tuple[float, float] = (0.9, 0.999)


class RunConfig(Section):
    model: ModelConfig
    train: TrainConfig = TrainConfig()
    extra_models: tuple[ModelConfig, ...] = ()


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(schema: type[Section], data: dict, source: str = "cfg.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        validate(schema, data, source)
    return str(info.value)


# ---------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3e-4", 3e-4),
        ("1e5", 1e5),
        ("1.0e5", 1e5),
        ("-2E-3", -2e-3),
        ("+1e+2", 100.0),
        (".5e1", 5.0),
        ("0.1", 0.1),
        ("3", 3),
        ("true", True),
        ("null", None),
        ("", None),
        ("[1, 2]", [1, 2]),
        ("{kind: transformer}", {"kind": "transformer"}),
        ("abc", "abc"),
        ("'3e-4'", "3e-4"),
        ("a=b", "a=b"),
    ],
)
def test_override_values_parse_as_yaml(text: str, expected: object) -> None:
    value = apply_overrides({}, [f"x={text}"])["x"]
    assert value == expected
    assert type(value) is type(expected)


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=200, deadline=None)
def test_override_reads_back_any_python_float_repr(x: float) -> None:
    assert apply_overrides({}, [f"train.lr={x!r}"]) == {"train": {"lr": x}}


def test_override_creates_nested_mappings_and_leaves_input_alone() -> None:
    data = {"train": {"lr": 0.1}, "model": {"kind": "lstm_lm"}}
    out = apply_overrides(data, ["train.sched.warmup=100", "model.hidden_size=64"])
    assert out == {
        "train": {"lr": 0.1, "sched": {"warmup": 100}},
        "model": {"kind": "lstm_lm", "hidden_size": 64},
    }
    assert data == {"train": {"lr": 0.1}, "model": {"kind": "lstm_lm"}}


def test_override_later_wins_and_indexes_lists() -> None:
    out = apply_overrides({"a": [1, 2, 3]}, ["a.1=20", "b=1", "b=2"])
    assert out == {"a": [1, 20, 3], "b": 2}


@pytest.mark.parametrize("bad", ["train.lr", "=3", "train..lr=1", ".lr=1", "lr.=1"])
def test_malformed_override_names_it(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"KEY\.PATH=VALUE") as info:
        apply_overrides({}, [bad])
    assert repr(bad) in str(info.value)


def test_override_through_a_scalar_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"'train.lr.x=1'.*train.lr is 0.1"):
        apply_overrides({"train": {"lr": 0.1}}, ["train.lr.x=1"])


def test_override_with_invalid_yaml_value_names_it() -> None:
    with pytest.raises(ConfigError, match=r"--set 'x=\[1': value is not valid YAML"):
        apply_overrides({}, ["x=[1"])


# --------------------------------------------------------------- load_yaml


def test_load_yaml_reads_exponent_floats(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 3e-4\n  steps: 1e5\n  name: 1e5x\n")
    assert load_yaml(path) == {"train": {"lr": 3e-4, "steps": 1e5, "name": "1e5x"}}


def test_load_yaml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found: .*nope\.yaml"):
        load_yaml(tmp_path / "nope.yaml")


def test_load_yaml_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.1\n  bad: [1, 2\nmodel: {}\n")
    with pytest.raises(ConfigError, match=r"invalid YAML in .*run.yaml: line \d+"):
        load_yaml(path)


def test_load_yaml_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run.yaml: top level must be a mapping"):
        load_yaml(write(tmp_path, "- 1\n- 2\n"))


def test_load_yaml_empty_file_is_empty_mapping(tmp_path: Path) -> None:
    assert load_yaml(write(tmp_path, "# nothing\n")) == {}


def test_load_yaml_refuses_duplicate_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"run.yaml: line 3.*duplicate key 'lr'"):
        load_yaml(path)


def test_load_yaml_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &b {lr: 0.1, epochs: 2}\ntrain: {<<: *b, lr: 0.5}\n")
    assert load_yaml(path)["train"] == {"lr": 0.5, "epochs": 2}


# --------------------------------------------------------------- validation


def test_section_types_lax_enough_for_yaml_but_not_sloppy() -> None:
    cfg = validate(RunConfig, {"model": {"kind": "lstm_lm"}, "train": {"lr": 1}}, "x")
    assert isinstance(cfg.train.lr, float)
    data = {"model": {"kind": "lstm_lm", "hidden_size": "abc"}}
    assert "model.hidden_size: must be a valid integer" in error_of(RunConfig, data)


def test_sections_are_frozen() -> None:
    cfg = validate(RunConfig, {"model": {"kind": "lstm_lm"}}, "x")
    with pytest.raises(ValidationError):
        cfg.train.lr = 1.0  # type: ignore[misc]


def test_unknown_key_names_path_allowed_keys_and_file() -> None:
    data = {"model": {"kind": "lstm_lm"}, "train": {"lr": 0.1, "lr_decay": 0.5}}
    message = error_of(RunConfig, data, "configs/x.yaml")
    assert message == (
        "train.lr_decay: unknown key 'lr_decay'; allowed keys: lr, clip_norm, "
        "epochs, betas (in configs/x.yaml)"
    )


def test_unknown_top_level_key() -> None:
    message = error_of(RunConfig, {"model": {"kind": "lstm_lm"}, "tarin": {}})
    assert message.startswith(
        "tarin: unknown key 'tarin' (did you mean 'train'?); allowed keys: model, train"
    )


def test_an_unknown_key_suggests_the_closest_from_a_file_or_set(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: {kind: lstm_lm, hiden_size: 8}\n")
    with pytest.raises(ConfigError, match=r"did you mean 'hidden_size'\?"):
        load_config(RunConfig, path)
    with pytest.raises(ConfigError, match=r"'epoch' \(did you mean 'epochs'\?\)"):
        load_config(RunConfig, path, ["train.epoch=1"])
    path.write_text("model: {kind: lstm_lm}\n")
    with pytest.raises(ConfigError) as info:
        load_config(RunConfig, path, ["train.zzz=1"])
    assert "did you mean" not in str(info.value)  # nothing close to zzz


def test_out_of_range_names_path_value_and_file() -> None:
    data = {"model": {"kind": "lstm_lm"}, "train": {"clip_norm": -1}}
    assert error_of(RunConfig, data, "configs/x.yaml") == (
        "train.clip_norm: must be greater than 0 (got -1) (in configs/x.yaml)"
    )


def test_every_error_is_listed() -> None:
    data = {"model": {"kind": "lstm_lm", "dropout": 1.5}, "train": {"epochs": 0}}
    message = error_of(RunConfig, data, "cfg.yaml")
    assert message.startswith("2 errors in cfg.yaml:\n")
    assert "model.dropout: must be less than 1 (got 1.5)" in message
    assert "train.epochs: must be greater than or equal to 1 (got 0)" in message


def test_missing_required_section() -> None:
    assert error_of(RunConfig, {}) == "model: required key is missing (in cfg.yaml)"


def test_section_given_as_scalar() -> None:
    message = error_of(RunConfig, {"model": {"kind": "lstm_lm"}, "train": 3})
    assert message == "train: must be a mapping of keys (got 3) (in cfg.yaml)"


# ------------------------------------------------------ discriminated unions


def test_union_error_path_has_no_tag() -> None:
    message = error_of(RunConfig, {"model": {"kind": "lstm_lm", "hidden_size": 0}})
    assert message == "model.hidden_size: must be greater than 0 (got 0) (in cfg.yaml)"


def test_union_unknown_key_lists_keys_of_selected_kind() -> None:
    message = error_of(RunConfig, {"model": {"kind": "transformer", "hidden_size": 8}})
    assert message == (
        "model.hidden_size: unknown key 'hidden_size'; allowed keys: kind, d_model, "
        "n_heads (in cfg.yaml)"
    )


def test_union_bad_kind_lists_choices() -> None:
    message = error_of(RunConfig, {"model": {"kind": "gru_lm"}})
    assert message == (
        "model.kind: must be one of 'lstm_lm', 'transformer' (got 'gru_lm') "
        "(in cfg.yaml)"
    )


def test_union_missing_kind_lists_choices() -> None:
    message = error_of(RunConfig, {"model": {"hidden_size": 8}})
    assert message == (
        "model.kind: required key is missing; choose one of 'lstm_lm', 'transformer' "
        "(in cfg.yaml)"
    )


def test_union_inside_list() -> None:
    data = {"model": {"kind": "lstm_lm"}, "extra_models": [{}, {"kind": "lstm_lm"}]}
    data["extra_models"][1]["num_layers"] = 0
    message = error_of(RunConfig, data)
    assert "extra_models.0.kind: required key is missing" in message
    assert "extra_models.1.num_layers: must be greater than or equal to 1" in message


def test_set_switches_union_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  kind: lstm_lm\n")
    cfg = load_config(RunConfig, path, ["model.kind=transformer", "model.d_model=64"])
    assert cfg.model == TransformerConfig(d_model=64)
    cfg = load_config(RunConfig, path, ["model={kind: transformer, n_heads: 2}"])
    assert cfg.model == TransformerConfig(n_heads=2)


# ------------------------------------------------------------ load/dump/save


def test_load_config_with_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "model: {kind: lstm_lm}\ntrain:\n  lr: 0.1\n")
    cfg = load_config(RunConfig, path, ["train.lr=3e-4", "model.hidden_size=32"])
    assert cfg.train.lr == 3e-4
    assert cfg.model == LSTMLMConfig(hidden_size=32)


def test_load_config_error_names_file_and_override(tmp_path: Path) -> None:
    path = write(tmp_path, "model: {kind: lstm_lm}\n")
    with pytest.raises(ConfigError) as info:
        load_config(RunConfig, path, ["train.clip_norm=-1"])
    message = str(info.value)
    assert message.startswith("train.clip_norm: must be greater than 0 (got -1)")
    assert str(path) in message
    assert "--set train.clip_norm=-1" in message


def test_override_of_unknown_key_is_caught_by_validation(tmp_path: Path) -> None:
    path = write(tmp_path, "model: {kind: lstm_lm}\n")
    with pytest.raises(ConfigError, match=r"train\.warmup: unknown key 'warmup'"):
        load_config(RunConfig, path, ["train.warmup=10"])


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = RunConfig(
        model=TransformerConfig(d_model=64),
        train=TrainConfig(lr=1e-5, clip_norm=math.inf, betas=(0.8, 0.95)),
        extra_models=(LSTMLMConfig(dropout=0.25),),
    )
    text = dump_config(cfg)
    assert text.startswith("model:\n  kind: transformer\n")
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(RunConfig, tmp_path / "saved.yaml") == cfg


def test_cli_set_takes_several_pairs_and_repeats():
    from seqlab.cli import build_parser

    args = build_parser().parse_args(
        ["train", "c.yaml", "--set", "a=1", "b.c=2", "--set", "d=3"]
    )
    assert args.overrides == ["a=1", "b.c=2", "d=3"]


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    from seqlab.run import load_run_config

    cfg = load_run_config(path)
    assert cfg.task in path.read_text()
