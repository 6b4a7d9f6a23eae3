"""`import mlops_lab`, the CLI's --help and the core stay light: no TensorFlow, scikit-learn, pandas or evidently."""
import importlib.util, subprocess, sys

HEAVY = ['tensorflow', 'sklearn', 'pandas', 'evidently', 'papermill', 'matplotlib', 'keras']

def loaded_after(code):
    out = subprocess.run([sys.executable, '-c', code + '\nimport sys\nprint(" ".join(sorted(sys.modules)))'],
                         capture_output=True, text=True, check=True).stdout.split()
    return [m for m in HEAVY if m in out]

def test_heavy_libraries_are_installed():
    # otherwise the tests below would pass vacuously
    assert all(importlib.util.find_spec(m) for m in ['tensorflow', 'sklearn', 'pandas', 'evidently', 'papermill'])

def test_import_is_light():
    assert loaded_after('import mlops_lab, mlops_lab.core, mlops_lab.cli') == []

def test_help_is_light():
    code = 'from mlops_lab.cli import main\ntry: main(["--help"])\nexcept SystemExit: pass\n' \
           'try: main(["run", "--help"])\nexcept SystemExit: pass'
    assert loaded_after(code) == []

def test_console_script_help():
    exe = __import__('shutil').which('mlops-lab', path=str(__import__('pathlib').Path(sys.executable).parent))
    assert exe, 'mlops-lab console script not installed next to this Python'
    r = subprocess.run([exe, '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and 'run' in r.stdout and 'params' in r.stdout
