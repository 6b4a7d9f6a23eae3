"""Test-session set-up shared by tests/ and the notebooks.

1. Notebooks run on their own write to a scratch run folder (`runs/dev`). The test session gets a
   fresh one, set before any kernel or subprocess starts, so stored outputs are compared against a
   clean state whatever a learner left in `runs/dev`.
2. The notebooks are checked by nbval (strict: stored outputs must match). nbdev_clean blanks
   execution counts, which nbval reads as "this cell was never run" and rejects. Committed notebooks
   are always executed top to bottom before cleaning, so we number their code cells in order again
   as nbval reads them. Everything else is nbval's own checking, with the options in pytest.ini.
"""
import os, tempfile
import pytest

os.environ['MLOPS_LAB_DEV_DIR'] = tempfile.mkdtemp(prefix='mlops-lab-dev-')

from nbval.plugin import IPyNbFile  # noqa: E402
import nbval.plugin


class _Numbered:
    "Stands in for the nbformat module inside nbval: `read` renumbers the code cells."
    def __init__(self, nbformat): self._nbformat = nbformat
    def __getattr__(self, name): return getattr(self._nbformat, name)
    def read(self, *args, **kwargs):
        nb = self._nbformat.read(*args, **kwargs)
        for i, cell in enumerate((c for c in nb.cells if c.cell_type == 'code'), 1):
            cell.execution_count = i
        return nb


class CleanNotebook(IPyNbFile):
    "An nbval notebook whose code cells count as run in order (see the module docstring)."
    def collect(self):
        real = nbval.plugin.nbformat
        nbval.plugin.nbformat = _Numbered(real)
        try: yield from super().collect()
        finally: nbval.plugin.nbformat = real


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if file_path.suffix == '.ipynb' and not (opt.nbval or opt.nbval_lax):  # plain --nbval: nbval's own collector
        return CleanNotebook.from_parent(parent, path=file_path)
