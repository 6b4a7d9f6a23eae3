"""No stored output that nbval checks depends on the processor.

TensorFlow's matrix kernels (oneDNN), scikit-learn's and scipy's (OpenBLAS) and numpy's vectorised
loops each choose their instructions when they start, by what the CPU offers. A machine without
AVX-512 therefore adds in another order and rounds differently in the last bit, and training turns
those bits into other weights. All three libraries can be limited to what an AVX2 machine has
(`mlops_lab.core.AVX2_KERNELS`), which gives this machine the kernels of such a CPU. Notebooks are
stored with the native kernels; the suite's one nbval execution of each notebook runs under AVX2's
(conftest.py), so every stored output it compares must hold on both. Figures whose digits depend on
the processor are shown behind ≈ and masked (00_core, "Figures that depend on the processor"), and
the notebooks test their properties with stated tolerances instead.
These tests check that the limits take effect, and that the notebooks' kernels really get them.
"""
import json, os, subprocess, sys
import nbformat
from conftest import ROOT
from mlops_lab.core import AVX2_KERNELS

PROBE = '''
import json, numpy, tensorflow as tf
from numpy._core._multiarray_umath import __cpu_features__ as f
from threadpoolctl import threadpool_info
tf.matmul(tf.ones((8, 8)), tf.ones((8, 8)))
print(json.dumps({'numpy_avx512': any(f[k] for k in ('X86_V4', 'AVX512_ICL', 'AVX512_SPR')),  # numpy's AVX-512 dispatch targets
                  'openblas': sorted({i.get('architecture') for i in threadpool_info() if i['internal_api'] == 'openblas'})}))
'''


def test_the_limits_take_effect():
    "Without this, the notebooks' one execution could pass while proving nothing."
    r = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **AVX2_KERNELS, 'ONEDNN_VERBOSE': '1', 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {'numpy_avx512': False, 'openblas': ['Haswell']}
    isa = [l for l in (r.stdout + r.stderr).splitlines() if 'onednn_verbose' in l and 'isa:' in l]
    assert isa and isa[0].endswith('isa:Intel AVX2'), isa


def test_notebook_kernels_run_with_the_avx2_kernels(tmp_path):
    "A notebook collected by the suite (conftest.py) sees the limits in its kernel; the pytest process itself keeps its own."
    cell = nbformat.v4.new_code_cell('import os\nprint({k: os.environ.get(k) for k in sorted(%r)})' % sorted(AVX2_KERNELS))
    cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text=str({k: AVX2_KERNELS[k] for k in sorted(AVX2_KERNELS)}) + '\n')]
    cell.execution_count = 1
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbformat.write(nb, tmp_path / 'probe.ipynb')
    env = {k: v for k, v in os.environ.items() if k not in AVX2_KERNELS and k != 'MLOPS_LAB_KERNELS'}
    run = lambda extra: subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'conftest', '-p', 'no:cacheprovider', '--rootdir', str(tmp_path),
                                        '-c', os.devnull, '--nbval-current-env', str(tmp_path / 'probe.ipynb')],
                                       cwd=ROOT, capture_output=True, text=True, timeout=300, env={**env, **extra})
    r = run({})
    assert r.returncode == 0 and '1 passed' in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    r = run({'MLOPS_LAB_KERNELS': 'native'})  # the switch works, and the comparison can fail
    assert r.returncode == 1 and 'Cell outputs differ' in r.stdout, r.stdout[-3000:]
