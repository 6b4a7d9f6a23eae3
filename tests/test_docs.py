"""The docs site: built offline from the notebooks, then checked in headless Chromium (Debian's) over HTTP on loopback."""
import functools, http.server, re, subprocess, sys, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse
import pytest
from conftest import ROOT

ARTIFACTS = ROOT / 'test-artifacts' / 'docs'
CHROMIUM = '/usr/bin/chromium'


@pytest.fixture(scope='module')
def site():
    r = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'docs.py')], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = ROOT / '_docs'
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield out, f'http://127.0.0.1:{srv.server_port}/'
    srv.shutdown()


class Links(HTMLParser):
    def __init__(self): super().__init__(); self.hrefs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        for k in ('href', 'src'):
            if a.get(k) and tag in ('a', 'link', 'script', 'img'): self.hrefs.append(a[k])


def parse(path: Path) -> Links:
    p = Links(); p.feed(path.read_text(encoding='utf-8')); return p


def test_every_notebook_and_topic_has_a_page(site):
    out, _ = site
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*/*.ipynb')):
        rel = nb.relative_to(ROOT / 'nbs').with_suffix('.html')
        assert (out / rel).exists(), rel
    for t in ('optimization', 'data_ingestion', 'deployment'): assert (out / 'exam' / f'{t}.html').exists()
    assert (out / 'api' / 'edge.html').exists() and (out / 'search' / 'search_index.json').exists()


def test_hidden_cells_hidden_exported_code_and_outputs_shown(site):
    out, _ = site
    html = (out / '6_deploy' / '61_bundle.html').read_text()
    assert 'from fastcore.test import test_eq, test_fail' not in html  # a `#| hide` cell
    assert 'def write_bundle' in html and '#| export' not in html  # exported code, directives stripped
    assert 'TFLite model:' in html  # a stored output
    api = (out / 'api' / 'deploy.bundle.html').read_text()
    assert 'Write a bundle folder' in api  # the docstring, in the API reference


def test_internal_links_resolve(site):
    out, _ = site
    broken = []
    for page in out.rglob('*.html'):
        for href in parse(page).hrefs:
            u = urlparse(href)
            if u.scheme or href.startswith(('mailto:', 'data:', '//')): continue
            if not u.path:  # same-page anchor
                continue
            target = (out / u.path.lstrip("/")) if u.path.startswith("/") else (page.parent / u.path).resolve()
            if target.is_dir(): target = target / 'index.html'
            if not target.exists(): broken.append((page.relative_to(out).as_posix(), href)); continue
            if u.fragment and target.suffix == '.html' and u.fragment not in parse(target).ids:
                broken.append((page.relative_to(out).as_posix(), href))
    assert broken == []


def test_no_external_requests(site):
    out, _ = site
    ext = {(p.name, h) for p in out.rglob('*.html') for h in parse(p).hrefs  # scripts, styles, fonts from elsewhere
           if urlparse(h).scheme in ('http', 'https') and re.search(r'\.(js|css|woff2?)(\?|$)', h)}
    assert ext == set()


def test_pages_load_in_headless_chromium_without_console_errors(site):
    from playwright.sync_api import sync_playwright
    out, base = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = ['index.html', '3_prepare/30_validate.html', '6_deploy/62_quantize.html', '6_deploy/66_edge.html', 'exam/optimization.html',
             'exam/gaps.html', 'api/exam.html']
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync'])
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.on('console', lambda m: errors.append((page.url, m.text)) if m.type == 'error' else None)
        page.on('pageerror', lambda e: errors.append((page.url, str(e))))
        page.on('requestfailed', lambda r: errors.append((page.url, f'request failed: {r.url}')))
        for p in pages:
            resp = page.goto(urljoin(base, p), wait_until='networkidle')
            assert resp.status == 200, p
            assert page.locator('h1').first.inner_text().strip(), p
            page.screenshot(path=str(ARTIFACTS / (p.replace('/', '_').replace('.html', '') + '.png')), full_page=False)
        page.goto(urljoin(base, 'index.html'))  # search works offline
        page.keyboard.press('/')
        page.keyboard.type('quantization')
        page.wait_for_selector('.md-search-result__item', timeout=10_000)
        assert page.locator('.md-search-result__item').count() > 0
        page.screenshot(path=str(ARTIFACTS / 'search.png'))
        browser.close()
    assert errors == []
