"""What a signed bundle costs the device: the signature check vs the sha256 sums vs loading the model, on this CPU
and on the Raspberry Pi's (aarch64, under qemu-user emulation), in one run.

    .venv/bin/python benchmarks/edge_signature.py [--size 64] [--n 50]

The bundle is the pipeline's kind: a MobileNetV2 classifier at `--size` pixels, full-int8 TFLite (about 2.8 MB at 64),
signed with a key made for the run. Printed per machine: median ms of `check_signature` (ed25519 over the manifest),
`verify` (signature + every file's sha256), and `Model` (verify + interpreter load + allocate), and the signature's share
of the load. The arm64 figures need root (binfmt, chroot) and the userland of scripts/arm64-rootfs.sh (built if missing).
Under emulation everything runs 5-20x slower than on a real Pi; the ratios are what carry over.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path
import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
ROOT = Path(__file__).resolve().parents[1]
ROOTFS = Path(os.environ.get('MLOPS_LAB_ARM64_ROOTFS', '/var/tmp/mlops-lab-arm64'))

PROBE = '''
import json, platform, sys
from mlops_lab.edge import Model, check_signature, verify
from mlops_lab.measure import timing
b, keys, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(b + "/manifest.json", "rb").read()
def ms(f, k): return timing(lambda _: f(), range(k))["p50_ms"]
out = {"machine": platform.machine(), "signature_ms": ms(lambda: check_signature(b, raw, keys), n),
       "verify_ms": ms(lambda: verify(b, keys), n), "load_ms": ms(lambda: Model(b, keys=keys), max(3, n // 5))}
print(json.dumps(out))
'''


def bundle(size: int, work: Path) -> Path:
    from mlops_lab.deploy.bundle import quiet, spec, write_bundle
    from mlops_lab.deploy.quantize import convert
    from mlops_lab.edge import keygen
    from mlops_lab.modeling import transfer
    net, how = transfer.backbone(size, 'auto', 0)
    model = transfer.classifier(net, (28, 28, 1), 10, 255)
    x = np.random.default_rng(0).uniform(0, 255, (64, 28, 28, 1)).astype(np.float32)
    with quiet(): tfl = convert(model, 'int8', x)
    keygen(work / 'keys', name='bench')
    b = write_bundle(work / 'bundle', tfl, [str(i) for i in range(10)], spec((28, 28, 1), 255), {'name': f'mobilenetv2-{size}'}, keys=work / 'keys')
    print(f'bundle: MobileNetV2 {size}x{size} ({how.split(" (")[0]}), full int8, model.tflite {len(tfl) / 1e6:.2f} MB')
    return b


def row(r: dict) -> str:
    return (f"{r['machine']:8s} signature {r['signature_ms']:8.3f} ms | signature + sums {r['verify_ms']:8.3f} ms | "
            f"verify + load {r['load_ms']:9.3f} ms | signature = {100 * r['signature_ms'] / r['load_ms']:.1f}% of the load, "
            f"sums = {100 * (r['verify_ms'] - r['signature_ms']) / r['load_ms']:.1f}%")


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--n', type=int, default=50)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    b = bundle(a.size, work)
    r = subprocess.run([sys.executable, '-c', PROBE, b, work / 'keys', str(a.n)], capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    if r.returncode: sys.exit(r.stderr[-2000:])
    print(row(json.loads(r.stdout)))
    if os.geteuid() != 0: print('arm64: skipped (needs root for binfmt and chroot)')
    else:
        subprocess.run(['bash', ROOT / 'scripts' / 'arm64-rootfs.sh', ROOTFS], check=True)
        dest = ROOTFS / 'sigbench'
        shutil.rmtree(dest, ignore_errors=True); dest.mkdir()
        shutil.copytree(ROOT / 'mlops_lab', dest / 'mlops_lab', ignore=shutil.ignore_patterns('__pycache__'))
        shutil.copytree(b, dest / 'bundle'); shutil.copytree(work / 'keys' / 'trusted', dest / 'keys' / 'trusted')
        subprocess.run(['mount', '-t', 'proc', 'proc', ROOTFS / 'proc'], check=True)
        try:
            r = subprocess.run(['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'PYTHONPATH=/sigbench', 'chroot', ROOTFS,
                                '/venv-litert/bin/python', '-c', PROBE, '/sigbench/bundle', '/sigbench/keys', str(max(5, a.n // 5))],
                               capture_output=True, text=True, timeout=1800)
        finally: subprocess.run(['umount', ROOTFS / 'proc'])
        shutil.rmtree(dest, ignore_errors=True)
        if r.returncode: sys.exit(r.stderr[-2000:])
        print(row(json.loads(r.stdout)) + '  (qemu-user emulation)')
    shutil.rmtree(work)
