"""The hyperparameter record: defaults, checks, and what is generated from it."""
import argparse
import math

import pytest

from iba_tf import hyperparameters as hp
from iba_tf.errors import InputError


def test_the_record_gives_the_defaults_in_one_place():
    assert hp.DEFAULTS == dict(batch_size=10, steps=10, beta=10., learning_rate=1.,
                               min_std=0.01, smooth_std=1., normalize_beta=True)
    assert [h.name for h in hp.HYPERPARAMETERS] == list(hp.DEFAULTS)
    for h in hp.HYPERPARAMETERS:
        assert h.check(h.default) and h.help and h.expected and h.flags


@pytest.mark.parametrize("name", ["beta", "learning_rate", "min_std", "smooth_std"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_refused(name, value):
    with pytest.raises(InputError, match="{}={} is invalid: it must be a finite number"
                       .format(name, value)):
        hp.validate(**{name: value})
    with pytest.raises(ValueError):
        hp.merge(hp.DEFAULTS, **{name: value})


def test_validate_merge_and_resolve_keep_their_behaviour():
    assert hp.validate(beta=0, steps=0, sigma=None) == dict(beta=0, steps=0, sigma=None)
    with pytest.raises(ValueError, match=r"IBA: sigma=-1 is invalid: it must be a finite "
                       r"number >= 0 \(0 disables smoothing\)"):
        hp.validate(_prefix="IBA: ", sigma=-1)
    for bad in [dict(steps=2.5), dict(batch_size=0), dict(batch_size=True), dict(min_std=0),
                dict(normalize_beta=2), dict(beta="1")]:
        with pytest.raises(InputError, match="is invalid"):
            hp.validate(**bad)
    with pytest.raises(TypeError, match="Unknown IBA hyperparameter 'gamma'"):
        hp.validate(gamma=1)
    merged = hp.merge(hp.DEFAULTS, beta=0, steps=None, normalize_beta=0)
    assert merged["beta"] == 0 and merged["steps"] == 10 and merged["normalize_beta"] is False
    resolved = hp.resolve(beta=3, learning_rate=1)
    assert resolved["beta"] == 3.0 and isinstance(resolved["beta"], float)
    assert isinstance(resolved["learning_rate"], float) and resolved["steps"] == 10
    assert hp.is_int(3) and not hp.is_int(True) and hp.is_real(2.5) and not hp.is_real(False)
    assert hp.ALIASES["lr"] == "learning_rate"


def test_the_command_line_options_come_from_the_record(monkeypatch):
    from iba_tf.cli import build_parser
    from iba_tf.cli.common import add_hyperparameter_arguments, hyperparameters_from_args
    parser = argparse.ArgumentParser()
    add_hyperparameter_arguments(parser)
    assert hyperparameters_from_args(parser.parse_args([])) == hp.DEFAULTS
    args = parser.parse_args(["--lr", "0.5", "--steps", "3", "--no-normalize-beta"])
    assert (args.learning_rate, args.steps, args.normalize_beta) == (0.5, 3, False)
    assert parser.parse_args(["--learning-rate", "2"]).learning_rate == 2.
    with pytest.raises(InputError, match="beta=inf is invalid"):
        hyperparameters_from_args(parser.parse_args(["--beta", "inf"]))
    # a changed default reaches every subcommand's options
    changed = tuple(h._replace(default=7) if h.name == "steps" else h
                    for h in hp.HYPERPARAMETERS)
    monkeypatch.setattr("iba_tf.cli.common.HYPERPARAMETERS", changed)
    parser = build_parser()
    for command in (["explain", "m.h5", "x.png"], ["explain-dataset", "m.h5", "d", "--out", "o"]):
        assert parser.parse_args(command).steps == 7


def test_docstring_section_renders_every_hyperparameter():
    text = hp.docstring_section(indent=4, width=80)
    lines = text.splitlines()
    assert all(line.startswith("    ") and len(line) <= 80 for line in lines)
    entries = [line.strip() for line in lines if not line.startswith("        ")]
    assert [entry.split(" ")[0] for entry in entries] == list(hp.DEFAULTS)
    assert "beta (float): Weight of the information term" in text and "Default: 10.0." in text
    assert hp.docstring_section(["steps"]).strip().startswith("steps (int): ")
    from iba_tf.dataset import explain_dataset
    assert "learning_rate (float): Adam's learning rate" in explain_dataset.__doc__
