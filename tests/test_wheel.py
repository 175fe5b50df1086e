"""genzoo as users install it: build the wheel, install it outside the source tree, and use it from there.

The wheel is installed with `pip install --no-deps --target DIR` and run with PYTHONPATH=DIR from a folder outside
the checkout, so the installed copy (not the editable one) is imported: the test checks `genzoo.__file__`. The
installed torch and the other dependencies come from the running environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    wheels, target = base / "dist", base / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True, cwd=base)
    (wheel,) = wheels.glob("genzoo-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, cwd=base)
    env = {**os.environ, "PYTHONPATH": str(target), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    return wheel, target, env, base


def _run(args, env, cwd):
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_wheel_ships_every_asset(installed):
    wheel, *_ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "genzoo").rglob("assets/**/*")
               if p.is_file()}
    assert shipped and shipped <= names, sorted(shipped - names)
    assert "genzoo/eval/assets/mnist_classifier.safetensors" in names


def test_installed_wheel_trains_samples_evaluates_and_scores(installed):
    _, target, env, base = installed
    r = _run(["-c", "import genzoo; print(genzoo.__file__)"], env, base)
    assert r.returncode == 0 and r.stdout.strip().startswith(str(target)), r.stdout + r.stderr
    r = _run(["-m", "genzoo", "list"], env, base)
    assert r.returncode == 0 and "realnvp" in r.stdout, r.stderr
    run = base / "run"
    r = _run(["-m", "genzoo", "train", "realnvp", "--data", "ring8", "--steps", "3", "--out", str(run),
              "--no-progress", "--set", "model.n_blocks=2", "--set", "train.batch_size=16"], env, base)
    assert r.returncode == 0, r.stderr
    r = _run(["-m", "genzoo", "sample", str(run), "-n", "16", "--out", str(base / "s.png")], env, base)
    assert r.returncode == 0 and (base / "s.png").is_file(), r.stderr
    r = _run(["-m", "genzoo", "evaluate", str(run), "--max-examples", "64"], env, base)
    assert r.returncode == 0 and "NLL" in r.stdout, r.stderr
    code = ("import torch; from genzoo.data import get; from genzoo.eval import mnist_scores; "
            "x = get('mnist', split='test').x[:32]; print(mnist_scores(x)['mean_confidence'])")
    r = _run(["-c", code], env, base)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.strip().splitlines()[-1]) > 0.5
