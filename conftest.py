"""Test-session set-up shared by tests/ and the notebooks.

1. Notebooks run on their own write to a scratch run folder (`runs/dev`). The test session gets a
   fresh one, set before any kernel or subprocess starts, so stored outputs are compared against a
   clean state whatever a learner left in `runs/dev`. Bundles are signed with a key made for the
   session (`MLOPS_LAB_KEYS`), never the user's own.
2. Every notebook is executed once, by nbval (strict: stored outputs must match), and that one
   execution also does what `nbdev_test` would: it skips exactly the cells nbdev's rules skip
   (`#| eval: false`, the `tst_flags` of settings.ini such as `#| notest`, `nbdev_export()` calls).
   nbdev_clean blanks execution counts, which nbval reads as "this cell was never run" and rejects.
   Committed notebooks are always executed top to bottom before cleaning, so we number their code
   cells in order again as nbval reads them. Everything else is nbval's own checking, with the
   options in pytest.ini.
3. That one execution runs on the float kernels of another processor. Notebooks are executed and
   stored with this machine's kernels (AVX-512 where the CPU has it); each notebook's kernel here
   starts with `mlops_lab.core.AVX2_KERNELS` in its environment, which gives TensorFlow, OpenBLAS
   and numpy the instructions of a CPU without AVX-512. So every stored output that nbval compares
   is shown not to depend on the processor (00_core, "Figures that depend on the processor"), and
   a digit that does fails here, not on a learner's machine. `MLOPS_LAB_KERNELS=native` runs the
   kernels with this machine's own instructions instead.
"""
import os, tempfile
import pytest

os.environ['MLOPS_LAB_DEV_DIR'] = tempfile.mkdtemp(prefix='mlops-lab-dev-')
os.environ['MLOPS_LAB_KEYS'] = tempfile.mkdtemp(prefix='mlops-lab-keys-')  # the session's own signing key, not the user's
os.environ.pop('MLOPS_LAB_ALLOW_UNSIGNED', None)

from nbval.plugin import IPyNbFile  # noqa: E402
import nbval.plugin


def nbdev_skips(cell, flags: set) -> bool:
    "Whether `nbdev_test` would not execute this code cell (nbdev's own directive parser and rule)."
    from nbdev.process import extract_directives
    if 'nbdev_export' + '(' in cell.source: return True
    d = extract_directives(cell, remove=False)
    return d.get('eval:', [''])[0].lower() == 'false' or bool(flags & d.keys())


def nbdev_test_flags() -> set:
    "The `tst_flags` of settings.ini: cells carrying one are skipped by `nbdev_test`, and so here."
    from nbdev.config import get_config
    return set((get_config().get('tst_flags') or '').split())


class _Numbered:
    "Stands in for the nbformat module inside nbval: `read` drops the cells nbdev skips and renumbers the rest."
    def __init__(self, nbformat): self._nbformat = nbformat
    def __getattr__(self, name): return getattr(self._nbformat, name)
    def read(self, *args, **kwargs):
        nb = self._nbformat.read(*args, **kwargs)
        flags = nbdev_test_flags()
        nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and nbdev_skips(c, flags))]
        for i, cell in enumerate((c for c in nb.cells if c.cell_type == 'code'), 1):
            cell.execution_count = i
        return nb


def kernel_env() -> dict:
    "What a notebook's kernel adds to the environment: the AVX2 kernel limits, unless `MLOPS_LAB_KERNELS=native`."
    from mlops_lab.core import AVX2_KERNELS
    return {} if os.environ.get('MLOPS_LAB_KERNELS') == 'native' else AVX2_KERNELS


class CleanNotebook(IPyNbFile):
    "An nbval notebook whose code cells count as run in order, without the cells nbdev skips, in a kernel with `kernel_env()` (see the module docstring)."
    def setup(self):
        add = kernel_env()
        saved = {k: os.environ.get(k) for k in add}
        os.environ.update(add)  # the kernel inherits the environment when it starts (and keeps it on a restart)
        try: super().setup()
        finally:
            for k, v in saved.items():
                if v is None: os.environ.pop(k, None)
                else: os.environ[k] = v

    def collect(self):
        real = nbval.plugin.nbformat
        nbval.plugin.nbformat = _Numbered(real)
        try: yield from super().collect()
        finally: nbval.plugin.nbformat = real


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if file_path.suffix == '.ipynb' and not (opt.nbval or opt.nbval_lax):  # plain --nbval: nbval's own collector
        return CleanNotebook.from_parent(parent, path=file_path)
