"""int8 vs float32 TFLite vs the Keras model, in one run; then edge cold start and install size.

    .venv/bin/python benchmarks/edge_int8.py [--sizes 64,96,160] [--limit 1000] [--edge-venv DIR]

For each input size, a MobileNetV2 classifier (pretrained backbone, head trained for two epochs
on Fashion-MNIST, or digits) is converted to float32 and full-int8 TFLite and measured through
`mlops_lab.edge` at one thread; the Keras model in a fresh one-thread TensorFlow process. Printed:
size ratio, p50 latency ratios and accuracy change. Then quantization-aware training vs PTQ on the
small CNN (65_qat, in its own process). Last, cold start (process start to first prediction) and
install size of a fresh `pip install .[edge]` venv vs the lab venv with TensorFlow.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
ROOT = Path(__file__).resolve().parents[1]


def du_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob('*') if p.is_file() and not p.is_symlink()) / 1e6, 1)


def wall(cmd, n=5) -> float:
    "Median wall time (s) of `cmd` over n runs (the first run warms the file cache and is dropped)."
    ts = []
    for _ in range(n + 1):
        t0 = time.perf_counter(); r = subprocess.run(cmd, capture_output=True, text=True); ts.append(time.perf_counter() - t0)
        if r.returncode: raise RuntimeError(f'{cmd}: {r.stderr[-500:]}')
    return round(float(np.median(ts[1:])), 2)


def models(sizes, limit, seed=42):
    from mlops_lab.data import images
    from mlops_lab.deploy import quantize
    from mlops_lab.deploy.bundle import quiet, spec
    from mlops_lab.modeling import transfer
    data = images.dataset('auto')
    parts = images.split_images(data, test=0.4, val=0.1, limit=limit, seed=seed)
    (xa, ya), (xt, yt) = [(parts[s][0].astype(np.float32), parts[s][1]) for s in ('train', 'test')]
    print(f"data: {data['name']} ({len(ya)} train, {len(yt)} test); one thread; {os.cpu_count()} CPUs")
    out = {}
    for size in sizes:
        net, how = transfer.backbone(size, 'auto', seed)
        net.trainable = False
        model = transfer.classifier(net, xa.shape[1:], len(data['labels']), data['max'])
        transfer.fit(model, parts, 2, 1e-3, seed)
        work = Path(tempfile.mkdtemp())
        with quiet(): rows, _ = quantize.precisions(model, xa[:200], xt, yt, data['labels'], spec(xa.shape[1:], data['max']), work)
        k, f, q = rows['keras float32'], rows['tflite float32'], rows['tflite int8']
        out[size] = rows
        print(f"\n{size}x{size} input ({how.split(' (')[0]}):")
        for name, r in rows.items():
            print(f"  {name:15s} {r['size_mb']:7.2f} MB  acc {r['accuracy']:.4f}  p50 {r['p50_ms']:8.3f} ms  p99 {r['p99_ms']:8.3f} ms  "
                  f"{r['throughput_per_s']:9.1f}/s  peak {r['peak_mb']:7.1f} MB")
        print(f"  int8 vs float32 TFLite: size {f['size_mb'] / q['size_mb']:.2f}x smaller (target >= 3.5x), "
              f"p50 {f['p50_ms'] / q['p50_ms']:.2f}x faster (target >= 2x), accuracy {100 * (q['accuracy'] - f['accuracy']):+.2f} points (target >= -1)")
        print(f"  int8 TFLite vs Keras:   p50 {k['p50_ms'] / q['p50_ms']:.0f}x faster, peak memory {k['peak_mb'] / q['peak_mb']:.1f}x less")
        shutil.rmtree(work)
    return out


def qat_recovery(limit):
    from mlops_lab.data.images import dataset, split_images
    from mlops_lab.measure import fresh
    from mlops_lab.modeling.transfer import save_split
    d = Path(tempfile.mkdtemp())
    data = dataset('auto')
    save_split(d / 'vision.npz', data, split_images(data, test=0.4, val=0.1, limit=limit, seed=42))
    t = fresh('mlops_lab.deploy.qat:stage', d, env={'TF_CPP_MIN_LOG_LEVEL': '3'})['table']  # tf-keras: its own process
    f, p, q = (t[k]['accuracy'] for k in ('float32 (Keras)', 'PTQ int8', 'QAT int8'))
    print(f"\nQAT vs PTQ (small CNN, 65_qat): float32 {f:.4f}, PTQ int8 {p:.4f} ({100 * (p - f):+.2f} points), "
          f"QAT int8 {q:.4f} ({100 * (q - f):+.2f} points): QAT recovers {100 * (q - p):+.2f} points")
    shutil.rmtree(d)


def cold_start(edge_venv: Path):
    from mlops_lab.data import images
    from mlops_lab.deploy.bundle import spec, write_bundle
    from mlops_lab.deploy.quantize import convert
    import keras
    from PIL import Image
    work = Path(tempfile.mkdtemp())
    if not (edge_venv / 'bin' / 'mlops-lab-edge').exists():
        print(f'\nbuilding a fresh [edge] venv in {edge_venv} ...', flush=True)
        subprocess.run([sys.executable, '-m', 'venv', str(edge_venv)], check=True)
        subprocess.run([edge_venv / 'bin' / 'pip', 'install', '-q', f'{ROOT}[edge]'], check=True)
    d = images.digits()
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 16), keras.layers.Flatten(), keras.layers.Dense(10), keras.layers.Softmax()])
    m.save(work / 'model.keras')
    b = write_bundle(work / 'bundle', convert(m, 'int8', d['x'][:100].astype('float32')), [str(i) for i in range(10)], spec((8, 8, 1), 16), {})
    Image.fromarray((d['x'][0, :, :, 0] * 255 / 16).round().astype('uint8')).save(work / 'x.png')
    edge = wall([str(edge_venv / 'bin' / 'mlops-lab-edge'), 'classify', '--bundle', str(b), str(work / 'x.png')])
    lab_edge = wall([str(ROOT / '.venv' / 'bin' / 'mlops-lab-edge'), 'classify', '--bundle', str(b), str(work / 'x.png')])
    keras_cold = wall([sys.executable, '-c', f"import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\nimport keras, numpy as np\n"
                       f"from PIL import Image\nm = keras.models.load_model('{work}/model.keras')\n"
                       f"print(m(np.asarray(Image.open('{work}/x.png'), 'float32')[None, :, :, None] * 16 / 255).numpy().argmax())"])
    site = lambda v: next((v / 'lib').glob('python3*/site-packages'))
    print(f"\ncold start, process start to first prediction (median of 5):\n"
          f"  mlops-lab-edge, [edge] venv:      {edge:.2f} s\n  mlops-lab-edge, lab venv:         {lab_edge:.2f} s\n"
          f"  Keras load_model + call, lab venv: {keras_cold:.2f} s ({keras_cold / edge:.1f}x the edge runtime)")
    print(f"install size (site-packages): [edge] venv {du_mb(site(edge_venv)):,.0f} MB vs lab venv {du_mb(site(ROOT / '.venv')):,.0f} MB")
    shutil.rmtree(work)


if __name__ == '__main__':
    a = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    a.add_argument('--sizes', default='64,96,160')
    a.add_argument('--limit', type=int, default=1000)
    a.add_argument('--edge-venv', type=Path, default=Path(tempfile.gettempdir()) / 'mlops-lab-edge-venv')
    args = a.parse_args()
    models([int(s) for s in args.sizes.split(',')], args.limit)
    qat_recovery(args.limit)
    cold_start(args.edge_venv)
