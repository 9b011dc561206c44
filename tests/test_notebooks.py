"""Every notebook runs from top to bottom (quick settings: IBA_TF_QUICK=1)."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import TF2

# On TensorFlow 2 the notebooks run as a user of that stack runs them: eager execution off
# before the first model (innvestigate 2 and iba_tf need graph mode; iba_tf does not switch it)
GRAPH_MODE_CELL = "import tensorflow as tf\ntf.compat.v1.disable_eager_execution()"

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "notebooks",
                                          "*.ipynb")))


def test_the_notebooks_are_there():
    names = {os.path.basename(path) for path in NOTEBOOKS}
    assert {"tensorflow_IBALayer_mnist.ipynb", "tensorflow_IBACopy_imagenet.ipynb",
            "tensorflow_IBACopyInnvestigate_imagenet.ipynb",
            "tensorflow_emotion_model.ipynb", "readout.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch, tmp_path):
    monkeypatch.setenv("IBA_TF_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    if TF2:
        notebook.cells.insert(0, nbformat.v4.new_code_cell(GRAPH_MODE_CELL))
    # A failing cell raises CellExecutionError naming the cell and the error.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
