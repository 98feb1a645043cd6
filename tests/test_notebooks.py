"""The analyst notebooks (notebooks/*.ipynb) run end to end on the demo city, write nothing beside themselves, and
show what they promise: figures, the comparison of the ranker with every baseline, one firm's explained ranking."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from models.ranker import SCORER_LABELS
from service.ranking import SLICES

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CHOICES = (  # the notebooks' own options (notebooks/_common.py): unset, each builds its own demo city
    "ZHIDA_NOTEBOOK_DATABASE_URL",
    "ZHIDA_NOTEBOOK_WORLD",
    "ZHIDA_NOTEBOOK_ENTERPRISES",
    "ZHIDA_NOTEBOOK_AS_OF",
    "ZHIDA_NOTEBOOK_ENTERPRISE",
)


def test_the_notebooks_are_committed_clean():
    assert len(PATHS) >= 3
    for path in PATHS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: outputs committed"


def _kernel() -> KernelManager:
    """ipykernel's own python3 kernel on this interpreter (the venv's), whatever kernels the user installed."""
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert km.kernel_spec.argv[0] == sys.executable
    return km


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _execute(path: Path, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    for name in CHOICES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's temporary city, removed with the test's folder
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # no notebooks/__pycache__ for the shared module
    before = _files(NOTEBOOKS)
    nb = nbformat.read(path, as_version=4)
    km = _kernel()
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()  # CellExecutionError on the first cell that fails
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=False)  # a kernel passed in is ours to stop; gracefully, so its atexit runs
    assert _files(NOTEBOOKS) == before, "a notebook wrote beside itself"
    return nb


def _outputs(nb, mime: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream" and mime == "text/plain":
                found.append(out["text"])
            elif out["output_type"] in ("display_data", "execute_result") and mime in out["data"]:
                found.append(out["data"][mime])
    return found


def _profiles_and_graph(nb):
    text = "\n".join(_outputs(nb, "text/plain"))
    assert "演示城市：南京市 2,000 家企业" in text and "企业 2,000 家" in text
    assert len(_outputs(nb, "image/png")) >= 7  # industries, scale and age, regions, unknown facts, degrees, …
    tables = "\n".join(_outputs(nb, "text/html"))
    for heading in ("门类", "平均未知占比", "具有标签", "候选企业"):
        assert heading in tables, heading


def _train_and_compare(nb):
    cells = [c for c in nb.cells if c.cell_type == "code"]
    comparison = next(c for c in cells if "comparison = " in c.source)
    table = "\n".join(o["data"]["text/html"] for o in comparison.outputs if "data" in o and "text/html" in o["data"])
    for label in (*SCORER_LABELS.values(), *SLICES.values(), "NDCG@10", "MAP", "recall@10", "覆盖率"):
        assert label in table, label
    plotted = [c for c in cells if "ax.bar(" in c.source and "ndcg@10" in c.source]
    assert plotted and any("image/png" in o.get("data", {}) for o in plotted[0].outputs)
    text = "\n".join(_outputs(nb, "text/plain"))
    assert "已登记候选模型 rk-" in text and "缩小了最佳基线与完美排序之间差距" in text
    registry = "\n".join(_outputs(nb, "text/html"))
    assert "候选" in registry and "rk-" in registry


def _one_enterprise(nb):
    text = "\n".join(_outputs(nb, "text/plain"))
    assert "已训练、登记并推广 rk-" in text and "在用排序模型 rk-" in text
    details = _outputs(nb, "text/markdown")
    assert details, "no policy explained"
    for md in details:
        assert "为什么推荐：" in md and "规则核验：**" in md
        assert "{" not in md and '"outcome"' not in md  # sentences for people, no JSON
    candidates = int(re.search(r"候选 (\d+) 项", text).group(1))
    assert candidates == len(details)  # every candidate ranked is explained


CHECKS = {
    "01_profiles_and_graph.ipynb": _profiles_and_graph,
    "02_train_and_compare.ipynb": _train_and_compare,
    "03_one_enterprise.ipynb": _one_enterprise,
}


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_end_to_end(path, tmp_path, monkeypatch):
    nb = _execute(path, tmp_path, monkeypatch)
    check = CHECKS.get(path.name)
    if check is not None:
        check(nb)
