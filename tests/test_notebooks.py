"""Execute every example notebook headless, as a reader would (top to bottom), with CI=true.

Each notebook runs in a fresh kernel whose working directory is a temporary copy, so nothing is
written into the repository. CI=true makes the notebooks' first settings cell pick smaller step
counts and datasets; the code path is the same. Besides "no cell raised", each notebook gets one
cheap check on what it printed or displayed.

The kernel is the ``python3`` kernelspec as resolved from this interpreter (jupyter_client
substitutes ``sys.executable`` for a spec's ``python``), so it runs in the same environment as
pytest; the repository root is put on its ``PYTHONPATH`` so an uninstalled checkout works too.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
TIMEOUT = 600  # per cell, seconds


def _text(output) -> str:
    """The text a reader sees for one output (stream text, or an object's text/plain)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return data.get("text/plain", "")


def _all_text(nb) -> str:
    return "\n".join(
        _text(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def _last_output_text(nb) -> str:
    for cell in reversed(nb.cells):
        if cell.cell_type == "code" and cell.get("outputs"):
            return "\n".join(_text(o) for o in cell.outputs)
    return ""


def _widget_views(nb) -> int:
    return sum(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def check_quickstart(nb) -> None:
    # the formula of exp(sin(pi x) + y^2) ends the notebook
    assert "sin" in _last_output_text(nb)
    assert "exp" in _last_output_text(nb)
    assert _widget_views(nb) >= 2  # the KANWidget and the loss figure


def check_mlp_vs_kan(nb) -> None:
    text = _all_text(nb)
    assert re.search(r"MLP \[2,\d+,\d+,1\]\s+\d+\s+\d\.\d+e-\d+", text), "results table missing"
    assert re.search(r"KAN \[2,1,1\] G=\d+\s+\d+\s+\d\.\d+e-\d+", text)
    assert _widget_views(nb) >= 3  # KAT picture, bar charts, edge curves


def check_velocity_addition(nb) -> None:
    text = _all_text(nb)
    assert "prune(0.01) gives [2, 1, 1]" in text  # the sparse model prunes to [2, 1, 1]
    assert "recovered:" in text
    assert "max |error|" in text


def check_continual_learning(nb) -> None:
    m = re.search(r"worst error on earlier peaks: KAN ([\d.]+), MLP ([\d.]+)", _all_text(nb))
    assert m, "summary line missing"
    kan_err, mlp_err = float(m.group(1)), float(m.group(2))
    assert kan_err < 0.05, "the KAN should keep the earlier peaks"
    assert mlp_err > kan_err


def check_scaling(nb) -> None:
    m = re.search(r"slope (-?\d+\.\d+) \(theory -4\)", _all_text(nb))
    assert m, "fitted slope missing"
    assert float(m.group(1)) < -1.0  # error falls as the grid is refined
    assert _widget_views(nb) >= 1


def check_playground(nb) -> None:
    text = _all_text(nb)
    m = re.search(r"circle: test accuracy (\d\.\d+)", text)
    assert m and float(m.group(1)) > 0.8, "lesson 1 summary missing"
    assert re.search(r"spiral: test accuracy \d\.\d+ with \[2, 2, 1\], \d\.\d+ with", text)
    assert "recovered:" in text
    assert _widget_views(nb) >= 3  # one playground per lesson


def check_attribution(nb) -> None:
    text = _all_text(nb)
    assert "prune_input keeps x_1, x_3, x_5" in text  # the three inputs that matter
    m = re.search(r"kanpiler RMSE before training (\S+)", text)
    assert m and float(m.group(1)) < 1e-3, "kanpiler's RMSE line missing or too large"
    assert re.search(r"product model width \[2, \[\d, 1\], 1\], RMSE \S+", text)
    # data that are a product: multiplication nodes find x_1*x_2 (10 of 10 seeds in
    # bench/bench_multkan.py, so a margin across CPUs)
    assert "product formula: x_1*x_2" in text
    assert _widget_views(nb) >= 1


CHECKS = {
    "01_quickstart.ipynb": check_quickstart,
    "02_mlp_vs_kan.ipynb": check_mlp_vs_kan,
    "03_physics_velocity_addition.ipynb": check_velocity_addition,
    "04_continual_learning.ipynb": check_continual_learning,
    "05_scaling.ipynb": check_scaling,
    "06_playground.ipynb": check_playground,
    "07_attribution.ipynb": check_attribution,
}


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_is_clean(name):
    """Committed notebooks carry no outputs or execution counts, and open with markdown."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert "learn" in nb.cells[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {cell.get('id')} has outputs"
            assert cell.execution_count is None


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CI"] = "true"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # Tiny tensors: one intra-op thread is as fast as two, and far faster when the 2 cores are
    # shared with other jobs (OpenMP threads spin-wait on a busy machine).
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("MPLBACKEND", None)
    return env


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs(name, tmp_path):
    src = NOTEBOOKS / name
    work = tmp_path / "run"
    work.mkdir()
    shutil.copy(src, work / name)
    nb = nbformat.read(work / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=TIMEOUT, resources={"metadata": {"path": str(work)}}
    )
    client.execute(env=_kernel_env())  # raises CellExecutionError on the first failing cell
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    CHECKS[name](nb)
    # nothing but the copied notebook may appear in the working directory
    assert sorted(p.name for p in work.iterdir()) == [name]
    # and the repository's copy is untouched (still without outputs)
    assert all(
        c.get("outputs", []) == []
        for c in nbformat.read(src, as_version=4).cells
        if c.cell_type == "code"
    )


def test_kernel_is_this_environment():
    """The ``python3`` kernel the notebooks run in is this interpreter (so, this venv)."""
    from jupyter_client.manager import KernelManager

    cmd = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert Path(cmd[0]).resolve() == Path(sys.executable).resolve(), cmd
