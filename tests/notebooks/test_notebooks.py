"""Every notebook in notebooks/ runs from top to bottom against the seeded test database.

The kernel is this interpreter (the project's .venv), through a kernelspec written for the
test: a `python3` kernelspec found elsewhere on the machine (another Python, without the
project) can never be picked up instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pandas as pd
import psycopg
import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def kernel_manager(where: Path) -> KernelManager:
    """A kernel manager whose only kernel runs sys.executable with ipykernel."""
    spec = where / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test)", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(where / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def execute(path: Path, database_url: str, output: Path, work: Path) -> nbformat.NotebookNode:
    """Run `path` in its own folder; the notebook reads the database and output folder
    from the environment, as a planner's would."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, ONEMAP_DATABASE_URL=database_url, ONEMAP_NOTEBOOK_OUTPUT=str(output),
               IPYTHONDIR=str(work / "ipython"))  # leave the user's IPython profile alone
    client = NotebookClient(nb, km=kernel_manager(work), timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return nb


def mentions(html: str, text: str) -> bool:
    """`text` in the page, as written or as folium's JSON escapes it."""
    return text in html or json.dumps(text)[1:-1] in html


def test_there_are_notebooks():
    assert ALL, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{path.name}: strip the outputs before committing"


@pytest.fixture(scope="module")
def run(seeded_url, tmp_path_factory):
    """Execute a notebook once per module: (its output folder, the executed notebook)."""
    done: dict[Path, tuple[Path, nbformat.NotebookNode]] = {}

    def run_once(path: Path) -> tuple[Path, nbformat.NotebookNode]:
        if path not in done:
            work = tmp_path_factory.mktemp(path.stem)
            done[path] = work / "out", execute(path, seeded_url, work / "out", work / "jupyter")
        return done[path]
    return run_once


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_runs_without_errors(path, run):
    _, nb = run(path)  # a failing cell raises CellExecutionError with its traceback
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")


@pytest.fixture
def shelters_run(run):
    return run(NOTEBOOKS / "shelters_planning.ipynb")


def test_shelter_notebook_tables_every_district_and_shows_failures(shelters_run, seeded_url):
    out, _ = shelters_run
    table = pd.read_csv(out / "shelters_districts.csv", dtype={"代码 code": str})
    assert len(table) == 13
    verdicts = table["达标 meets"]
    assert (verdicts == "不达标 fail").any() and (verdicts == "达标 pass").any()
    failing = table[verdicts == "不达标 fail"]
    assert (failing["人均 m² per resident"] < 1.5).all() and (failing["缺口 deficit m²"] > 0).all()
    # the same residents as the districts' census figures the surface was scaled to
    with psycopg.connect(seeded_url) as conn:
        census = dict(conn.execute("SELECT code, population FROM districts").fetchall())
    assert dict(zip(table["代码 code"], table["常住人口 residents"])) == census
    assert table["步行覆盖率 coverage share"].between(0, 1).all()


def test_shelter_notebook_lists_sub_districts_of_the_worst_failing_district(shelters_run):
    out, _ = shelters_run
    districts = pd.read_csv(out / "shelters_districts.csv", dtype={"代码 code": str})
    worst = districts.loc[districts["缺口 deficit m²"].idxmax(), "代码 code"]
    subs = pd.read_csv(out / f"shelters_subdistricts_{worst}.csv", dtype={"代码 code": str})
    assert len(subs) > 1 and subs["代码 code"].str.startswith(worst).all()
    assert subs["人均 m² per resident"].is_monotonic_increasing
    assert (subs["达标 meets"] == "不达标 fail").any()


def test_shelter_notebook_saves_an_offline_map_with_every_district(shelters_run, seeded_url):
    out, _ = shelters_run
    html = (out / "shelters_map.html").read_text(encoding="utf-8")
    with psycopg.connect(seeded_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM districts").fetchall()]
    assert len(names) == 13 and all(mentions(html, n) for n in names)
    assert "tile.openstreetmap" not in html and "tileLayer" not in html
    for layer in ("紧急避难场所 emergency", "固定避难场所 fixed", "无避难位置的居民"):
        assert mentions(html, layer)
