"""The question bank against the seed documents, its schema and links; the grader against hand-labelled answers; FSRS scheduling, the quiz, the mock exam and the exports through the real CLI."""
import json, os, pty, re, select, shutil, sqlite3, subprocess, sys, time, zipfile
from pathlib import Path
import pytest
import yaml
from conftest import ROOT
from mlops_lab import exam, grade, study

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


def test_every_answer_has_evidence_and_every_gap_its_reason():
    ok, bad = exam.links(BANK, ROOT / 'nbs')
    assert bad == [] and len(ok) >= 250
    assert [e['id'] for e in BANK if not e['evidence']] == []  # every answer links to the lab
    # a gap states what is missing, then (after a colon) why the lab cannot show it here; nothing merely "not built yet"
    unjustified = [(i, g) for i, g in exam.gaps(BANK) if ': ' not in g or re.search(r'\bnot (built|done|measured) yet\b|\bTODO\b', g)]
    assert unjustified == []


@pytest.mark.parametrize('field,value,message', [
    ('stage', 'training', "field 'stage' is 'training'"),
    ('topic', 'misc', "field 'topic' is 'misc'"),
    ('source', ['12'], "field 'source' must list 'NNN:number'"),
    ('key_points', [{'point': 'x', 'keywords': ['y']}], "field 'key_points[0]' needs a 'point' and a non-empty 'phrases' list"),
    ('misconceptions', [{'point': 'x', 'phrases': []}], "field 'misconceptions[0]' needs a 'point' and a non-empty 'phrases'"),
    ('cloze', {'prompt': 'Steps', 'items': ['only one']}, "field 'cloze' needs a 'prompt' and an 'items' list"),
    ('seed_note', '', "field 'seed_note' is empty"),
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


def test_seed_answers_are_shown_beside_every_entry():
    answers = exam.seed_answers(ROOT / 'data' / 'seeds')
    assert sorted(set(exam.seed_questions(ROOT / 'data' / 'seeds')) - set(answers)) == ['001:31']  # the document ends on the question
    assert all(len(e['seed_note'].split()) >= 8 for e in BANK)
    assert 'LoRa' in answers['001:12'] and 'LoRA' in next(e for e in BANK if e['id'] == 'lora')['seed_note']


def test_the_corrections_the_issue_asks_for():
    by = {e['id']: ' '.join(e['answer'].split()) for e in BANK}
    assert 'never worse' not in by['quantization-types'] and 'usually' in by['quantization-types']
    assert 'Global Control Service' in by['ray'] and 'raylet' in by['ray']
    assert 'data mining goal' in by['crisp-dm'].lower().replace('-', ' ')
    assert all(w in by['deployment-paradigms'].lower() for w in ('dedicated', 'virtual machine', 'container', 'serverless'))
    assert all(w in by['readiness-levels'].lower() for w in ('manual process', 'ml pipeline automation', 'ci/cd for ml', 'continuous training', 'adaptive ml'))
    assert 'cold start' in by['realtime-recommendations'].lower()
    assert 'hard label' in by['distillation'].lower().replace('-', ' ') or 'true label' in by['distillation'].lower()
    assert all(w in by['governance'].lower() for w in ('inventory', 'risk', 'human'))


def test_every_reference_answer_passes_its_own_grader():
    # the bank is consistent: its answer states every key point, no misconception, and is not taken for a list or an echo
    bad = {}
    for e in BANK:
        v = grade.assess(e['answer'], e)
        if v['grade'] != 'easy' or v['misconceptions'] or v['flags']: bad[e['id']] = (v['grade'], [p['point'] for p in v['points'] if not p['covered']], v['flags'])
    assert bad == {}


def test_echoing_the_question_earns_nothing():
    verdicts = {e['id']: grade.assess(e['question'], e) for e in BANK}
    assert {i: v['grade'] for i, v in verdicts.items() if v['grade'] != 'again' or any(p['covered'] for p in v['points'])} == {}


def test_phrases_do_not_fire_inside_common_words():
    text = 'We repeated it k times on the dataset to identify a logistic trend in the data.'
    assert {e['id']: c for e in BANK if (c := [p['point'] for p in grade.assess(text, e)['points'] if p['covered']])} == {}


def test_grader_agrees_with_the_labelled_answers():
    answers = grade.labelled(ROOT / 'tests' / 'graded')
    rep = grade.agreement(BANK, answers)
    assert rep['n'] >= 200 and {a['kind'] for a in answers} >= {'correct', 'paraphrase', 'partial', 'wrong', 'negated', 'terms', 'echo', 'offtopic'}
    assert rep['agreement'] >= 0.85, rep['per_kind']
    assert rep['too_kind'] == []  # no term list, echo or negated answer suggested good or easy


def test_labelled_answers_name_real_entries():
    ids = {e['id'] for e in BANK}
    answers = grade.labelled(ROOT / 'tests' / 'graded')
    assert {a['id'] for a in answers} == ids and {a['label'] for a in answers} == {'pass', 'fail'}


def quiz(tmp_path, *args, stdin='', timeout=60):
    env = {**os.environ, 'MLOPS_LAB_HOME': str(tmp_path), 'COLUMNS': '100'}
    return subprocess.run([sys.executable, '-m', 'mlops_lab', 'quiz', *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def test_score_prints_json_for_editors(tmp_path):
    answer = ('A few percent of users get the new version first. We compare its error rate and latency with the old one '
              'and switch everyone back if it is worse, else widen the share step by step.')
    r = quiz(tmp_path, '--score', 'canary', stdin=answer)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert v['id'] == 'canary' and v['grade'] in ('good', 'easy') and 0 < v['coverage'] <= 1
    covered = [p for p in v['points'] if p['covered']]
    assert covered and all(p['sentence'] in answer for p in covered)  # the sentence that matched, quoted
    assert all(set(p) == {'point', 'covered', 'denied', 'sentence'} for p in v['points'])
    neg = json.loads(quiz(tmp_path, '--score', 'canary', stdin='I would never roll back, and a canary never sends a small share of users anywhere.').stdout)
    assert neg['grade'] in ('again', 'hard') and 'denies a key point' in neg['flags']
    r = quiz(tmp_path, '--score', 'no-such-question', stdin='x')
    assert r.returncode == 2 and "no question 'no-such-question'" in r.stderr


@pytest.mark.parametrize('args,message', [
    (['--stats', '--stage', 'deployment'], '--stage cannot be used with --stats'),
    (['--seed', '3'], '--seed cannot be used in practice'),
    (['--mock', '--export', 'md'], '--export and --mock do not go together'),
    (['--export', 'anki', '--topic', 'monitoring'], '--topic cannot be used with --export'),
    (['--score', 'canary', '-n', '3'], '-n cannot be used with --score'),
    (['--exam-date', '31/12/2026', '--stats'], '--exam-date must be YYYY-MM-DD'),
    (['--exam-date', '2020-01-01'], 'the exam date 2020-01-01 has passed'),
    (['--mock', '-n', '0'], '-n must be positive, not 0'),
    (['--export', 'anki', '--out', '/'], 'cannot write the export to /'),
])
def test_unsupported_options_are_refused(tmp_path, args, message):
    r = quiz(tmp_path, *args)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ''


def test_practice_session_grades_with_keys_and_brings_failed_cards_back(tmp_path):
    # two optimization cards: the first answered badly and graded 1 (again), the second accepted with Enter; the first returns at the end
    good = 'Post-training quantization converts a trained model, calibrated on a representative dataset; quantization-aware training fakes the int8 rounding during training.'
    r = quiz(tmp_path, '-n', '2', '--topic', 'optimization', stdin='no idea\n\n1\n' + 'LoRA trains small low-rank adapter matrices on frozen pretrained weights.\n\n\n' + good + '\n\n3\n')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r'\[3/\d\] \(again\) optimization', out) and 'it comes back before the end of this session' in out and "The course's answer" in out
    assert re.search(r'Grade: 1 again · 2 hard · 3 good · 4 easy \[Enter = \d \w+\]', out)
    con = sqlite3.connect(tmp_path / 'progress.db')
    rows = con.execute('SELECT id, grade, suggested FROM answers ORDER BY at').fetchall()
    assert [g for _, g, _ in rows][0] == 'again' and rows[0][0] == rows[2][0] and len(rows) == 3
    assert rows[1][1] == rows[1][2]  # Enter took the suggestion
    state = json.loads(con.execute('SELECT card FROM cards WHERE id = ?', (rows[0][0],)).fetchone()[0])
    assert state['state'] in (1, 2, 3) and state['stability'] > 0  # an FSRS card


def test_a_grade_is_one_key_press_in_a_terminal(tmp_path):
    env = {**os.environ, 'MLOPS_LAB_HOME': str(tmp_path), 'COLUMNS': '100'}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on a pseudo-terminal, as a learner runs it
        os.chdir(ROOT); os.execve(sys.executable, [sys.executable, '-m', 'mlops_lab', 'quiz', '-n', '2', '--topic', 'governance', '--topic', 'deployment'], env)
    seen = b''
    def until(pattern, timeout=60):
        nonlocal seen
        end = time.time() + timeout
        while not re.search(pattern, seen) and time.time() < end:
            if select.select([fd], [], [], 0.5)[0]:
                try: seen += os.read(fd, 65536)
                except OSError: break
        assert re.search(pattern, seen), seen[-2000:]
    try:
        until(rb'an empty line ends it')
        os.write(fd, b'An inventory of models, risk tiers and human sign-off.\r\r')
        until(rb'Enter = ')
        os.write(fd, b'2')  # one key, no Enter
        until(rb'saved: next review in')
        until(rb'\[2/2\]')  # still running: the next card is asked
    finally:
        os.kill(pid, 9); os.waitpid(pid, 0); os.close(fd)
    con = sqlite3.connect(tmp_path / 'progress.db')
    assert [g for _, g in con.execute('SELECT id, grade FROM answers')] == ['hard']


def test_interrupted_session_keeps_what_was_graded(tmp_path):
    env = {**os.environ, 'MLOPS_LAB_HOME': str(tmp_path)}
    p = subprocess.Popen([sys.executable, '-m', 'mlops_lab', 'quiz', '-n', '5', '--topic', 'optimization'], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    p.stdin.write('int8 weights and activations, calibrated\n\n3\nsecond answer\n\n4\nhalf an answer\n'); p.stdin.flush()
    deadline, db = time.time() + 30, tmp_path / 'progress.db'
    while time.time() < deadline:
        if db.exists() and sqlite3.connect(db).execute('SELECT count(*) FROM answers').fetchone()[0] == 2: break
        time.sleep(0.1)
    p.send_signal(2)  # Ctrl-C
    out, _ = p.communicate(timeout=30)
    assert 'Stopped. 2 answer(s) saved.' in out
    assert sqlite3.connect(db).execute('SELECT grade FROM answers ORDER BY at').fetchall() == [('good',), ('easy',)]


def test_leitner_progress_is_migrated_to_fsrs(tmp_path):
    con = sqlite3.connect(tmp_path / 'progress.db')
    con.executescript('''CREATE TABLE cards (id TEXT PRIMARY KEY, box INTEGER NOT NULL, due REAL NOT NULL, reviews INTEGER NOT NULL, lapses INTEGER NOT NULL);
      CREATE TABLE answers (at REAL NOT NULL, id TEXT NOT NULL, mode TEXT NOT NULL, answer TEXT, share REAL, grade TEXT);''')
    t = time.time() - 30 * 86400
    con.executemany('INSERT INTO cards VALUES (?, ?, ?, ?, ?)', [('lora', 5, t + 40 * 86400, 3, 0), ('canary', 1, t, 2, 2)])
    con.executemany('INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)', [(t, 'lora', 'practice', 'a', 1, 'good'), (t + 86400, 'lora', 'practice', 'a', 1, 'easy'),
                    (t + 5 * 86400, 'lora', 'practice', 'a', 1, 'easy'), (t, 'canary', 'practice', '', 0, 'again'), (t + 60, 'canary', 'practice', '', 0, 'again')])
    con.commit(); con.close()
    r = quiz(tmp_path, '--stats')
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(tmp_path / 'progress.db')
    assert db.execute('SELECT count(*) FROM leitner').fetchone()[0] == 2  # kept
    states = {i: json.loads(c) for i, c in db.execute('SELECT id, card FROM cards')}
    assert set(states) == {'lora', 'canary'} and states['lora']['stability'] > states['canary']['stability']
    assert dict(db.execute('SELECT id, reviews FROM cards')) == {'lora': 3, 'canary': 2}
    assert re.search(r'deployment\s+\d+\s+1\s+1\s+\d+%', r.stdout)  # canary: seen, due


def test_exam_date_caps_the_intervals(tmp_path):
    db = study.progress_db(tmp_path / 'p.db')
    card = next(c for c in exam.cards(BANK) if c['id'] == 'lora')
    t0 = 1_900_000_000
    study.exam_date(db, time.strftime('%Y-%m-%d', time.localtime(t0 + 6 * 86400)))
    exam_at, t, dues = study.exam_date(db), t0, []
    for _ in range(2): t = study.record_answer(db, card, 'x', 'easy', t)['due']; dues.append(t)
    assert dues[0] <= exam_at - 86400 and dues[1] < exam_at  # each review lands before the exam
    study.exam_date(db, '')
    t, free = t0, []
    for _ in range(2): t = study.record_answer(db, {**card, 'id': 'other'}, 'x', 'easy', t)['due']; free.append(t)
    assert free[1] > exam_at + 7 * 86400  # without the date the second interval is weeks


def test_mock_exam_through_the_cli_reviews_and_schedules(tmp_path):
    r = quiz(tmp_path, '--mock', '-n', '3', '--minutes', '10', '--seed', '4', '--stage', 'deployment',
             stdin='A canary sends a small share of traffic to the new model and rolls back when its error rate rises.\n\n\n\nno idea\n\n')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'Mock exam: 3 questions, 10 minutes' in out and re.search(r'\[\d\d:\d\d\] ', out) and 'about 40-150 words' in out
    assert out.count('Your answer') == 3 and out.count('Reference answer') >= 3 and 'missed:' in out and 'Score:' in out
    con = sqlite3.connect(tmp_path / 'progress.db')
    assert con.execute("SELECT count(*) FROM answers WHERE mode = 'mock' AND grade IS NOT NULL").fetchone()[0] == 3
    assert con.execute('SELECT count(*) FROM cards').fetchone()[0] == 3  # the grades went into the schedule
    stages = {e['id']: e['stage'] for e in BANK}
    assert {stages[i] for i, in con.execute('SELECT id FROM cards')} == {'deployment'}
    r = quiz(tmp_path, '--stats')
    assert 'readiness' in r.stdout and re.search(r'\d+%', r.stdout)


def test_exports(tmp_path):
    far = tmp_path / 'somewhere' / 'else'
    r = quiz(tmp_path, '--export', 'md', '--out', str(far))
    assert r.returncode == 0, r.stderr
    text = (far / 'optimization.md').read_text()
    target = re.search(r'\]\(([^)#]+64_lora\.ipynb)#this-run\)', text)[1]
    assert (far / target).resolve() == (ROOT / 'nbs' / '6_deploy' / '64_lora.ipynb').resolve()  # links valid wherever written
    assert '<details><summary>Document 001, question 12</summary>' in text
    r = quiz(tmp_path, '--export', 'anki', '--out', str(tmp_path / 'deck.apkg'))
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(tmp_path / 'deck.apkg') as z: z.extract('collection.anki2', tmp_path)
    con = sqlite3.connect(tmp_path / 'collection.anki2')
    notes = con.execute('SELECT guid, tags, flds FROM notes').fetchall()
    lists = [e for e in BANK if e.get('cloze')]
    assert len(notes) == len(BANK) + len(lists) and len({g for g, _, _ in notes}) == len(notes)
    assert con.execute('SELECT count(*) FROM cards').fetchone()[0] == len(exam.cards(BANK))  # a card per question and per list item
    crisp = next(f for _, _, f in notes if '{{c6::' in f and 'usiness' in f)
    assert all(f'{{{{c{k}::' in crisp for k in range(1, 7))
    assert all(len(t.split()) == len(set(t.split())) for _, t, _ in notes)  # no tag twice
    assert any('topic::deployment' in t.split() and 'crisp-dm::deployment' in t.split() for _, t, _ in notes)


def test_quiz_help_is_light():
    code = ("import sys; from mlops_lab.cli import main\ntry: main(['quiz', '--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('tensorflow', 'sklearn', 'pandas', 'evidently', 'yaml', 'genanki', 'fsrs', 'snowballstemmer') if m in sys.modules]\nprint(heavy)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith('[]') and '--mock' in r.stdout and '--score' in r.stdout
