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
