"""The question bank against the seed documents, its schema and links; the quiz's scheduling, scoring and persistence."""
import os, re, shutil, sqlite3, subprocess, sys, time, zipfile
from pathlib import Path
import pytest
import yaml
from conftest import ROOT
from mlops_lab import exam

BANK = exam.load_bank(ROOT / 'data' / 'exam')


def test_every_seed_question_is_in_the_bank():
    seeds = exam.seed_questions(ROOT / 'data' / 'seeds')
    assert len(seeds) == 64 and exam.missing(BANK, seeds) == []  # 5 + 31 + 12 + 4 + 12 (the 12 twice)
    assert {s for e in BANK for s in e['source']} == set(seeds)  # and nothing the seeds do not ask


def test_seed_copies_match_the_shared_documents():
    shared = ROOT.parent / 'shared' / 'seeds'
    if shared.is_dir():  # in a checkout beside the course documents
        assert sorted(p.read_bytes() for p in shared.glob('*.txt')) == sorted(p.read_bytes() for p in (ROOT / 'data' / 'seeds').glob('*.txt'))


def test_a_dropped_entry_is_reported_missing(tmp_path):
    shutil.copytree(ROOT / 'data' / 'exam', tmp_path / 'bank')
    (tmp_path / 'bank' / '001-31-crisp-dm.yaml').unlink()
    assert exam.missing(exam.load_bank(tmp_path / 'bank'), exam.seed_questions(ROOT / 'data' / 'seeds')) == ['001:31']


def test_every_evidence_link_resolves_and_gaps_are_listed():
    ok, bad = exam.links(BANK, ROOT / 'nbs')
    assert bad == [] and len(ok) >= 60
    gaps = exam.gaps(BANK)
    assert gaps and all(g.strip() for _, g in gaps)
    assert all(e['evidence'] or e['gaps'] for e in BANK)


@pytest.mark.parametrize('field,value,message', [
    ('stage', 'training', "field 'stage' is 'training'"),
    ('topic', 'misc', "field 'topic' is 'misc'"),
    ('source', ['12'], "field 'source' must list 'NNN:number'"),
    ('key_points', [{'point': 'x'}], "field 'key_points[0]' needs a 'point' and a non-empty 'keywords' list"),
    ('evidence', [{'notebook': 'x'}], "field 'evidence[0]' needs"),
    ('answer', '', "field 'answer' is empty"),
    ('gaps', [{'Not measured': 'the cost'}], "field 'gaps[0]' must be a sentence"),
])
def test_malformed_entries_name_file_and_field(tmp_path, field, value, message):
    e = yaml.safe_load((ROOT / 'data' / 'exam' / '001-12-lora.yaml').read_text())
    e[field] = value
    (tmp_path / 'broken.yaml').write_text(yaml.safe_dump(e))
    with pytest.raises(exam.BankError, match=re.escape(f'broken.yaml: {message}')): exam.load_bank(tmp_path)


def test_broken_yaml_and_duplicate_ids(tmp_path):
    (tmp_path / 'a.yaml').write_text('id: [unclosed\n')
    with pytest.raises(exam.BankError, match='a.yaml: not valid YAML'): exam.load_bank(tmp_path)
    (tmp_path / 'a.yaml').unlink()
    for n in ('a', 'b'): shutil.copy(ROOT / 'data' / 'exam' / '001-12-lora.yaml', tmp_path / f'{n}.yaml')
    with pytest.raises(exam.BankError, match="b.yaml: field 'id' 'lora' is also used by a.yaml"): exam.load_bank(tmp_path)


def test_coverage_scoring():
    e = next(x for x in BANK if x['id'] == 'quantization-types')
    assert exam.covered(e['answer'], e)['share'] == 1.0
    r = exam.covered('Quantization-aware training simulates rounding; it is more accurate than post-training.', e)
    assert 0 < r['share'] < 1 and r['missed']
    assert exam.covered('', e) == {'covered': [], 'missed': [p['point'] for p in e['key_points']], 'share': 0.0}



def test_echoing_the_question_covers_no_key_point():
    # a key point is earned by what an answer adds, never by repeating the question's own words
    echoed = {e['id']: exam.covered(e['question'], e)['covered'] for e in BANK}
    assert {i: c for i, c in echoed.items() if c} == {}


def test_keywords_do_not_match_inside_common_words():
    # a keyword matches at the start of a word: short stems like `time`, `log`, `id` or `data` would fire on these
    text = 'We repeated it k times on the dataset to identify a logistic trend in the data.'
    assert {e['id']: c for e in BANK if (c := exam.covered(text, e)['covered'])} == {}

def test_leitner_schedule_over_sessions(tmp_path):
    db, e, t = exam.progress_db(tmp_path / 'p.db'), BANK[0], 1_900_000_000
    boxes = [exam.record_answer(db, e, 'x', g, t + i * 86400 * 30)['box'] for i, g in enumerate(['good', 'good', 'easy', 'again', 'hard'])]
    assert boxes == [2, 3, 5, 1, 1]
    row = db.execute('SELECT reviews, lapses FROM cards WHERE id = ?', (e['id'],)).fetchone()
    assert row == (5, 1)
    assert exam.due(db, BANK, t + 150 * 86400)[0]['id'] == e['id']  # due again comes before the new ones


def test_interrupted_terminal_session_keeps_what_was_answered(tmp_path):
    env = {**os.environ, 'MLOPS_LAB_HOME': str(tmp_path)}
    p = subprocess.Popen([sys.executable, '-m', 'mlops_lab', 'quiz', '-n', '5', '--topic', 'optimization'], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    p.stdin.write('int8 weights and activations, calibrated\n\ngood\nsecond answer\n\neasy\nhalf an answer\n'); p.stdin.flush()
    deadline = time.time() + 30
    db = tmp_path / 'progress.db'
    while time.time() < deadline:  # wait until both graded answers are committed, then interrupt mid-answer
        if db.exists() and sqlite3.connect(db).execute('SELECT count(*) FROM answers').fetchone()[0] == 2: break
        time.sleep(0.1)
    p.send_signal(2)  # Ctrl-C
    out, _ = p.communicate(timeout=30)
    assert 'Stopped. 2 answer(s) saved.' in out
    con = sqlite3.connect(db)
    assert con.execute('SELECT count(*) FROM answers').fetchone()[0] == 2
    assert sorted(b for b, in con.execute('SELECT box FROM cards')) == [2, 3]


def test_mock_exam_report(tmp_path):
    db = exam.progress_db(tmp_path / 'p.db')
    answers = iter(['canary, shadow and blue-green deployments with monitoring and rollback', '', '', ''])
    rep = exam.mock(BANK, db, n=2, minutes=10, seed=5, topics=['deployment'], ask=lambda p='': next(answers), say=lambda s: None)
    assert rep['questions'] == 2 and 0 < rep['score'] < 100 and rep['revise']
    assert db.execute("SELECT count(*) FROM answers WHERE mode = 'mock'").fetchone()[0] == 2


def test_exports(tmp_path):
    sheets = exam.study_sheets(BANK, tmp_path / 'md')
    assert {p.stem for p in sheets} == {e['topic'] for e in BANK}
    text = (tmp_path / 'md' / 'optimization.md').read_text()
    assert 'low-rank adaptation' in text and '(../nbs/6_deploy/64_lora.ipynb#this-run)' in text
    deck = exam.anki(BANK, tmp_path / 'deck.apkg')
    with zipfile.ZipFile(deck) as z:
        z.extract('collection.anki2', tmp_path)
    con = sqlite3.connect(tmp_path / 'collection.anki2')
    assert con.execute('SELECT count(*) FROM notes').fetchone()[0] == len(BANK)
    assert len({g for g, in con.execute('SELECT guid FROM notes')}) == len(BANK)


def test_quiz_help_is_light():
    code = ("import sys; from mlops_lab.cli import main\ntry: main(['quiz', '--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('tensorflow', 'sklearn', 'pandas', 'evidently', 'yaml', 'genanki') if m in sys.modules]\nprint(heavy)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith('[]') and '--mock' in r.stdout
