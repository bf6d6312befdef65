"""The command line answers help and usage errors at once: no torch, diffusers, scipy or scikit-learn
until a command runs; and the lazy package still hands out every public name."""

import subprocess
import sys
import typing

import pytest

HEAVY = ("torch", "diffusers", "scipy", "sklearn")

# runs the command line as `python -m gentransfer` does, then says which heavy modules it loaded
PROBE = f"""
import runpy, sys
sys.argv = ["gentransfer", *sys.argv[1:]]
try:
    runpy.run_module("gentransfer", run_name="__main__")
except SystemExit as err:
    code = err.code
print("exit", code, "heavy", [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)
"""


def probe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,code", [
    (["--help"], 0),
    (["fit-target", "--help"], 0),
    (["fit-source", "--help"], 0),
    (["digits", "conditional", "--help"], 0),
    (["simulate", "unconditional", "--help"], 0),
    (["fit-target", "--sorce", "run"], 2),
    (["fit-trget"], 2),
])
def test_help_and_usage_errors_load_no_heavy_module(args, code):
    out = probe(*args)
    assert out.stderr.splitlines()[-1] == f"exit {code} heavy []", out.stderr


def test_every_public_name_resolves_and_transfer_stays_the_function():
    """A subpackage named like an export (gentransfer.transfer) must not replace the export."""
    out = subprocess.run([sys.executable, "-c", """
import gentransfer, gentransfer.transfer.strategies
from gentransfer import transfer
assert callable(transfer) and not isinstance(transfer, type(gentransfer)), transfer
for name in gentransfer.__all__:
    getattr(gentransfer, name)
from gentransfer import fit, DiffusionModel
assert set(gentransfer.__all__) <= set(dir(gentransfer))
print("ok")
"""], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_load_pretrained_without_importing_the_model_classes(tmp_path):
    """``import gentransfer`` no longer registers the model classes; loading a saved model must."""
    from gentransfer import CouplingFlow

    CouplingFlow(x_dim=2, z_dim=1, hidden=8).save_pretrained(tmp_path)
    out = subprocess.run([sys.executable, "-c", f"from gentransfer import load_pretrained; "
                          f"print(type(load_pretrained({str(tmp_path)!r})).__name__)"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "CouplingFlow", out.stderr


def test_the_light_name_lists_match_their_implementations():
    from gentransfer.diffusion.samplers import SAMPLERS
    from gentransfer.families import FAMILIES
    from gentransfer.names import FamilyName

    assert typing.get_args(FamilyName) == tuple(FAMILIES)
    assert set(SAMPLERS) >= {"ancestral", "ode", "ddpm", "dpm++"}


def _error_line(capsys, argv: list[str]) -> str:
    from gentransfer.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gentransfer: error: ") and "; fix: " in lines[0], lines
    return lines[0]


@pytest.mark.parametrize("argv,fix", [
    (["fit-target", "--sorce", "run"], "fix: did you mean --source? see `gentransfer fit-target --help`"),
    (["fit-source", "--batchsize=3"], "fix: did you mean --batch-size? see `gentransfer fit-source --help`"),
    (["simulate", "conditional", "--n-targt", "5"],
     "fix: did you mean --n-target? see `gentransfer simulate conditional --help`"),
    (["fit-trget"], "fix: did you mean fit-target? see `gentransfer --help`"),
    (["data", "exprt", "mnist"], "fix: did you mean export? see `gentransfer data --help`"),
    (["report", "run", "--out", "r.html", "--xyzzy"], "fix: see `gentransfer report --help`"),
])
def test_an_unknown_flag_or_subcommand_is_one_line_with_a_guess(capsys, argv, fix):
    line = _error_line(capsys, argv)
    assert line.endswith(fix), line
    assert "unrecognized arguments" in line or "invalid choice" in line


def _parser_of(*names: str):
    import argparse

    from gentransfer.cli import build_parser

    parser = build_parser()
    for name in names:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


@pytest.mark.parametrize("command", [("fit-source",), ("fit-target",), ("simulate", "conditional"),
                                     ("simulate", "unconditional"), ("digits",)])
def test_every_long_command_has_one_progress_switch(command, monkeypatch):
    parser = _parser_of(*command)
    extra = ["conditional"] if command == ("digits",) else []
    assert parser.parse_args([*extra, "--no-progress"]).progress is False
    assert parser.parse_args([*extra, "--progress"]).progress is True
    assert parser.parse_args(extra).progress is None  # unset: decided by the terminal

    from gentransfer.cli.progress import wants_progress

    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert wants_progress(None) is False and wants_progress(True) is True


def test_a_default_true_switch_can_be_turned_off():
    args = _parser_of("digits").parse_args(["conditional", "--no-warm-start", "--no-save-models"])
    assert args.warm_start is False and args.save_models is False


def test_help_groups_flags_and_names_the_sized_defaults():
    from dataclasses import fields

    from gentransfer.cli.fit import SIZED_MODEL, SIZED_TRAIN, SourceJob
    from gentransfer.data.tabular import Columns
    from gentransfer.pipeline import data_defaults
    from gentransfer.pipeline.settings import ModelSettings
    from gentransfer.training.config import TrainSettings

    parser = _parser_of("fit-source")
    text = parser.format_help()
    for group in ("data:", "model:", "model: flow:", "model: diffusion/UNet:", "training:", "run folder:"):
        assert f"\n{group}\n" in text, group
    # every field a flag, every flag with help
    options = set(parser._option_string_actions)
    for cls in (SourceJob, Columns, ModelSettings, TrainSettings):
        assert {f"--{f.name.replace('_', '-')}" for f in fields(cls)} <= options, cls
    assert all(a.help for a in parser._actions)
    # what data_defaults may size is what the help says is sized
    model, train = set(), set()
    for family in ("flow", "diffusion"):
        for image in (False, True):
            m, t = data_defaults(family, 64, 20000, image=image)
            model, train = model | set(m), train | set(t)
    assert model <= set(SIZED_MODEL) and train <= set(SIZED_TRAIN)
    assert "--steps STEPS         maximum number of optimizer steps. (default: sized" in text
