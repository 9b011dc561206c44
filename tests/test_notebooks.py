"""Every notebook runs from top to bottom (quick settings: IBA_TF_QUICK=1)."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "notebooks",
                                          "*.ipynb")))


def test_the_notebooks_are_there():
    names = {os.path.basename(path) for path in NOTEBOOKS}
    assert {"tensorflow_IBALayer_mnist.ipynb", "tensorflow_IBACopy_imagenet.ipynb",
            "tensorflow_IBACopyInnvestigate_imagenet.ipynb",
            "tensorflow_emotion_model.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch, tmp_path):
    monkeypatch.setenv("IBA_TF_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    # A failing cell raises CellExecutionError naming the cell and the error.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
