"""No stored output that nbval checks depends on the processor.

TensorFlow's matrix kernels (oneDNN), scikit-learn's and scipy's (OpenBLAS) and numpy's vectorised
loops each choose their instructions when they start, by what the CPU offers. A machine without
AVX-512 therefore adds in another order and rounds differently in the last bit, and training turns
those bits into other weights. All three libraries can be limited to what an AVX2 machine has,
which gives this machine the kernels of such a CPU. The suite runs every notebook under nbval with
the native kernels; this test runs them all again with AVX2's. Figures whose digits depend on the
processor are shown behind ≈ and masked (00_core, "Figures that depend on the processor"), and the
notebooks test their properties with stated tolerances instead; every other stored output must
reproduce exactly under both.
"""
import json, os, subprocess, sys
from conftest import ROOT

AVX2 = {'ONEDNN_MAX_CPU_ISA': 'AVX2',                                # oneDNN: TensorFlow's matmul and convolution
        'OPENBLAS_CORETYPE': 'Haswell',                              # OpenBLAS: scikit-learn, scipy, numpy.linalg
        'NPY_DISABLE_CPU_FEATURES': 'X86_V4 AVX512_ICL AVX512_SPR'}  # numpy's AVX-512 loops

PROBE = '''
import json, numpy, tensorflow as tf
from numpy._core._multiarray_umath import __cpu_features__ as f
from threadpoolctl import threadpool_info
tf.matmul(tf.ones((8, 8)), tf.ones((8, 8)))
print(json.dumps({'numpy_avx512': any(f[k] for k in ('X86_V4', 'AVX512_ICL', 'AVX512_SPR')),  # numpy's AVX-512 dispatch targets
                  'openblas': sorted({i.get('architecture') for i in threadpool_info() if i['internal_api'] == 'openblas'})}))
'''


def test_the_limits_take_effect():
    "Without this, the next test could pass while proving nothing."
    r = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **AVX2, 'ONEDNN_VERBOSE': '1', 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {'numpy_avx512': False, 'openblas': ['Haswell']}
    isa = [l for l in (r.stdout + r.stderr).splitlines() if 'onednn_verbose' in l and 'isa:' in l]
    assert isa and isa[0].endswith('isa:Intel AVX2'), isa


def test_stored_outputs_hold_with_avx2_kernels(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pytest', 'nbs', '-q', '-p', 'no:cacheprovider'], cwd=ROOT, capture_output=True,
                       text=True, timeout=2400, env={**os.environ, **AVX2, 'MLOPS_LAB_DEV_DIR': str(tmp_path)})
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
