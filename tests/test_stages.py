"""One declaration per stage: the lab's declarations are consistent with its code and its README, and adding a
stage to a project is one notebook plus one declaration."""
import ast, re
from pathlib import Path
import nbformat
import pytest
import yaml
from conftest import ROOT, cli
from mlops_lab.stages import PHASES, artifacts, load_stages

STAGES = load_stages(ROOT / 'pipeline.yaml')
ARTS = artifacts(STAGES)


def module_file(module: str) -> Path: return ROOT / 'mlops_lab' / (module.replace('.', '/') + '.py')


def literals(path: Path) -> set[str]:
    "The string constants of a module, docstrings left out."
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs}


@pytest.mark.parametrize('name', list(STAGES))
def test_stage_code_names_only_the_artifacts_it_declares(name):
    "A stage module mentions (reads by `need`, or writes) only its declared needs and makes: no stage reads another's folder by path."
    s = STAGES[name]
    named = literals(module_file(s.module)) & set(ARTS)
    assert named <= set(s.needs) | set(s.makes), f'{name} names {sorted(named - set(s.needs) - set(s.makes))} without declaring them'
    src = module_file(s.module).read_text() + ''.join(c.source for c in nbformat.read(ROOT / 'nbs' / s.notebook, 4).cells)
    asked = set(re.findall(r"need\(run_dir, '([^']+)'\)", src))  # the stage function, and every cell the pipeline runs
    assert asked <= set(s.needs), f'{name} asks for {sorted(asked - set(s.needs))} without declaring them'


def test_every_stage_module_exports_a_stage_function():
    import importlib
    for s in STAGES.values(): assert callable(importlib.import_module(f'mlops_lab.{s.module}').stage), s.name


def test_readme_notebook_map_matches_the_notebooks_and_declarations():
    "The README's map lists every notebook once, with the module it exports and the stage it is (or none)."
    rows = re.findall(r'^\| `(\d_\w+/\d\d_\w+)` \|\s*([^|]*?)\s*\| `mlops_lab\.([\w.]+)` \|', (ROOT / 'README.md').read_text(), re.M)
    on_disk = {p.relative_to(ROOT / 'nbs').with_suffix('').as_posix() for p in (ROOT / 'nbs').glob('[0-9]*/*.ipynb')}
    assert sorted(r[0] for r in rows) == sorted(on_disk)
    by_nb = {s.notebook.removesuffix('.ipynb'): s for s in STAGES.values()}
    for nb, stage, module in rows:
        exp = next(c.source for c in nbformat.read(ROOT / 'nbs' / f'{nb}.ipynb', 4).cells if c.source.startswith('#| default_exp'))
        assert exp.split()[-1] == (module if module != '__main__' else '__main__'), nb
        assert stage.strip().strip('`') == (by_nb[nb].name if nb in by_nb else ''), nb
    assert {nb.split('/')[0] for nb in on_disk} <= set(PHASES)


def tiny_stage(project: Path, body: str, needs=('business.json',), makes=('tiny.json',)):
    "Add stage `tiny` to a project copy: one notebook, one declaration."
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell('# Tiny\n> a stage added by a test'),
        nbformat.v4.new_code_cell('run_dir = None  # run folder\nrows = 3  # rows to write', metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell('import json\nfrom pathlib import Path\nfrom mlops_lab.stages import need\n' + body)])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nbformat.write(nb, project / 'nbs' / '9_lab' / '99_tiny.ipynb')
    cfg = project / 'pipeline.yaml'
    spec = yaml.safe_load(cfg.read_text())
    spec['stages']['tiny'] = {'notebook': '9_lab/99_tiny.ipynb', 'does': 'a tiny stage', 'needs': list(needs), 'makes': {m: 'made by tiny' for m in makes}}
    cfg.write_text(yaml.safe_dump(spec, sort_keys=False))
    return cfg


GOOD = "biz = json.loads(need(run_dir, 'business.json').read_text())\n" \
       "Path(run_dir, 'tiny.json').write_text(json.dumps({'rows': rows, 'business': sorted(biz)}))"


def test_adding_a_stage_is_one_notebook_and_one_declaration(project_copy):
    cfg, runs = tiny_stage(project_copy, GOOD), project_copy / 'runs'
    r = cli('stages', '--config', cfg)
    assert r.returncode == 0 and 'tiny' in r.stdout and '99_tiny.ipynb' in r.stdout
    r = cli('params', '--config', cfg)
    assert r.returncode == 0 and 'rows' in r.stdout
    r = cli('run', 'tiny', '--config', cfg, '--runs', runs)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = runs.iterdir()
    m = yaml.safe_load((run / 'manifest.json').read_text())
    assert [(s['name'], s['status']) for s in m['stages']] == [('business', 'ok'), ('tiny', 'ok')]
    assert m['graph']['tiny']['needs'] == ['business.json'] and m['artifacts']['tiny.json']['stage'] == 'tiny'
    r = cli('run', 'tiny', '-p', 'rows=5', '--config', cfg, '--runs', runs)
    assert r.returncode == 0, r.stderr
    m = yaml.safe_load((max(runs.iterdir()) / 'manifest.json').read_text())
    assert [(s['name'], s['status']) for s in m['stages']] == [('business', 'reused'), ('tiny', 'ok')]


@pytest.mark.parametrize('needs,makes,msg', [
    (('busines.json',), ('tiny.json',), "stage 'tiny' needs 'busines.json', which no stage makes (did you mean 'business.json'?)"),
    (('business.json',), ('metrics.json',), "artifact 'metrics.json' is made by two stages, 'evaluate' and 'tiny'"),
])
def test_bad_declarations_are_refused_when_they_load(project_copy, needs, makes, msg):
    cfg = tiny_stage(project_copy, GOOD, needs, makes)
    for cmd in (('stages',), ('run', '--plan')):
        r = cli(*cmd, '--config', cfg, '--runs', project_copy / 'runs')
        assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_a_cycle_is_refused_with_its_path(project_copy):
    cfg = tiny_stage(project_copy, GOOD, needs=('model_card.md',), makes=('tiny.json',))
    spec = yaml.safe_load(cfg.read_text())
    spec['stages']['features']['needs'].append('tiny.json')  # features needs tiny, which needs what features leads to
    cfg.write_text(yaml.safe_dump(spec, sort_keys=False))
    r = cli('run', '--plan', '--config', cfg, '--runs', project_copy / 'runs')
    assert r.returncode == 2 and 'stages depend on each other in a cycle:' in r.stderr and 'tiny' in r.stderr and 'features' in r.stderr


def test_a_stage_that_reads_or_writes_undeclared_artifacts_fails(project_copy):
    runs = project_copy / 'runs'
    cfg = tiny_stage(project_copy, GOOD + "\nneed(run_dir, 'truth.csv')")
    r = cli('run', 'tiny', '--config', cfg, '--runs', runs)
    assert r.returncode == 1 and "UndeclaredNeed: stage 'tiny' asked for 'truth.csv'" in r.stderr, r.stderr
    cfg = tiny_stage(project_copy, GOOD + "\nPath(run_dir, 'extra.csv').write_text('x')")
    r = cli('run', 'tiny', '--config', cfg, '--runs', runs)
    assert r.returncode == 1 and "stage wrote ['extra.csv'], which its declaration does not list under `makes`" in r.stderr, r.stderr
