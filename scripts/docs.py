"""Build the docs site offline: `make docs` (or `.venv/bin/python scripts/docs.py`).

1. nbdev's own notebook processors prepare nbs/<phase>/*.ipynb as they do for Quarto: `#| hide` cells
   are dropped, directives removed, exported code shown. (`nbdev_proc_nbs` itself is not used:
   it tries to install Quarto and pip-installs the project; where Quarto exists, `nbdev_docs`
   still works, settings.ini is unchanged.)
2. The processed notebooks become pages with their stored outputs, the ones nbval checks (none
   is executed here). An index, a page per topic of the question bank with links to the
   evidence, and an API reference (mkdocstrings, from the docstrings, without importing the code)
   are added.
3. MkDocs Material renders _docs/, with offline search. External requests are not possible
   here, and the pages make none: no web fonts, no CDN scripts (nbconvert's MathJax and
   require.js tags are dropped; the lab's formulas stay readable as TeX).
"""
import re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SITE = ROOT / '_proc' / 'site'


def process(src: Path, dst: Path) -> tuple[Path, str]:
    "nbdev's own processors, minus those that execute code or need Quarto: hidden cells and directives go, exported code stays. `(dst, title)`."
    from execnb.nbio import read_nb, write_nb
    from nbdev.process import NBProcessor
    from nbdev.processors import (populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics, hide_,
                                  strip_hidden_metadata)
    nb = read_nb(src)
    NBProcessor(src, [populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics, hide_,
                      strip_hidden_metadata], nb=nb).process()
    for c in nb.cells:  # nbval's markers are for the test run, not for readers
        if c.cell_type == 'code': c.source = re.sub(r'^# NBVAL_\w+\n', '', c.source, flags=re.M)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and re.fullmatch(r'(#\|.*\n?)*', c.source.strip() + '\n'))]
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dst)
    m = re.search(r'^# (.+)$', nb.cells[0].source, re.M) if nb.cells else None
    return dst, (m[1].strip() if m else src.stem)


def build(strict: bool = True) -> Path:
    sys.path.insert(0, str(ROOT))
    from mlops_lab import exam
    from mlops_lab.stages import PHASES
    if SITE.exists(): shutil.rmtree(SITE)
    SITE.mkdir(parents=True)
    nbs = {}  # page (relative to the site): title, in phase order
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*/[0-9]*.ipynb')):
        rel = nb.relative_to(ROOT / 'nbs')
        nbs[rel] = process(nb, SITE / rel)[1]
    bank = exam.load_bank()
    (SITE / 'exam').mkdir()
    topics = [p.stem for p in sorted(exam.study_sheets(bank, SITE / 'exam', nbs='..'))]  # the phase folders sit one level up
    missing = exam.gaps(bank)
    (SITE / 'exam' / 'gaps.md').write_text('# What the lab does not demonstrate yet\n\n' + '\n'.join(
        f'- **{i}**: {g}' for i, g in missing) + '\n')
    (SITE / 'api').mkdir()
    mods = sorted('.'.join(p.relative_to(ROOT / 'mlops_lab').with_suffix('').parts) for p in (ROOT / 'mlops_lab').rglob('*.py')
                  if not p.stem.startswith('_'))
    for m in mods: (SITE / 'api' / f'{m}.md').write_text(f'# mlops_lab.{m}\n\n::: mlops_lab.{m}\n')
    readme = (ROOT / 'README.md').read_text()
    intro = readme.split('\n## ', 1)[0].split('\n', 1)[1]
    phases = {}
    for rel in nbs: phases.setdefault(rel.parts[0], []).append(rel)
    (SITE / 'index.md').write_text('# mlops-lab\n' + intro + '\n## The notebooks\n' + ''.join(
        f'\n### {PHASES[ph]}\n\n' + '\n'.join(f'- [{r.stem}: {nbs[r]}]({r.as_posix()})' for r in rels) + '\n' for ph, rels in phases.items())
        + '\n## Exam preparation\n\n' + '\n'.join(f"- [{t.replace('_', ' ').title()}](exam/{t}.md)" for t in topics)
        + '\n- [What the lab does not demonstrate yet](exam/gaps.md)\n')
    nav = ['  - Home: index.md', '  - Notebooks:']
    for ph, rels in phases.items():
        nav += [f'    - "{PHASES[ph]}":'] + [f'      - "{r.stem}": {r.as_posix()}' for r in rels]
    nav += ['  - Exam prep:'] + [f"    - {t.replace('_', ' ').title()}: exam/{t}.md" for t in topics] + ['    - Gaps: exam/gaps.md'] + \
           ['  - API:'] + [f'    - {m}: api/{m}.md' for m in mods]
    cfg = ROOT / '_proc' / 'mkdocs.yml'
    cfg.write_text((ROOT / 'docs' / 'mkdocs.yml').read_text().replace('docs_dir: ../_proc/site', 'docs_dir: site')
                   .replace('site_dir: ../_docs', f'site_dir: {ROOT / "_docs"}').replace('paths: [..]', f'paths: [{ROOT}]')
                   + 'nav:\n' + '\n'.join(nav) + '\n')
    r = subprocess.run([BIN / 'mkdocs', 'build', '-q', '-f', cfg] + (['--strict'] if strict else []), cwd=ROOT, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f'mkdocs build failed:\n{r.stderr[-4000:]}')
    for page in (ROOT / '_docs').rglob('*.html'):  # no CDN scripts: nothing can load them offline
        html = page.read_text()
        clean = re.sub(r'<script[^>]+src="https?://[^"]+"[^>]*>\s*</script>', '', html)
        if clean != html: page.write_text(clean)
    return ROOT / '_docs'


if __name__ == '__main__':
    out = build()
    print(f'docs site: {out}/index.html ({sum(1 for _ in out.rglob("*.html"))} pages)')
