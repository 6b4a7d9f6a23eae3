"""One-off maker of data/bad/ (the committed files are the corpus; this records how they were made)."""
import json, pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
D = Path(__file__).parent
H = 'order_id,placed,customer,qty,price,country'
G = ['O0001,2026-01-02,Anna Berger,3,9.90,AT', 'O0002,2026-01-02,Ben Kurz,1,5.00,DE', 'O0003,2026-01-03,Cleo Roth,2,12.50,CH',
     'O0004,2026-01-03,Dan Weiss,4,3.20,AT', 'O0005,2026-01-04,Eva Lang,1,99.00,DE']
def w(name, text, enc='utf-8'): (D / name).write_bytes(text.encode(enc) if isinstance(text, str) else text)
lines = lambda *r: '\n'.join([H, *r]) + '\n'
w('good.csv', lines(*G))
w('truncated.csv', lines(*G)[:-12])                               # cut mid-record
w('ragged.csv', lines(G[0], 'O0002,2026-01-02,Ben Kurz,1', G[2], G[3] + ',extra,fields', G[4]))
w('semicolon.csv', lines(*G).replace(',', ';'))                   # .csv that is not comma-separated
w('bom.csv', '\ufeff' + lines(*G))
w('latin1.csv', lines('O0001,2026-01-02,Jürgen Müller,3,9.90,AT', 'O0002,2026-01-02,Zoë Dvořák,1,5.00,DE'.replace('ř', 'r'), *G[2:]), 'latin-1')
w('mojibake.csv', lines('O0001,2026-01-02,JÃ¼rgen MÃ¼ller,3,9.90,AT', 'O0002,2026-01-02,ZoÃ« Weiss,1,5.00,DE', *G[2:]))
w('invalid.json', '{"orders": [{"order_id": "O0001", "placed": "2026-01-02", "customer": "Anna", "qty": 3, "price": 9.9, "country": "AT"},\n  {"order_id": "O0002", "placed": \n')
recs = [dict(zip(H.split(','), g.split(','))) for g in G]
w('one_bad_line.jsonl', '\n'.join([json.dumps(recs[0]), json.dumps(recs[1]), '{"order_id": "O0003", "placed": "2026-01-03", "qty": 2,,}', json.dumps(recs[3]), json.dumps(recs[4])]) + '\n')
w('binary.csv', bytes(range(256)) * 8)                            # garbage named .csv
w('empty.csv', b'')
w('header_only.csv', H + '\n')
w('duplicate_keys.csv', lines(*G, G[1], G[3].replace('Dan Weiss', 'Dan W.')))
dup = '{"order_id": "O0006", "placed": "2026-01-05", "customer": "Ida", "qty": 1, "qty": 7, "price": 2.5, "country": "AT"}'
w('duplicate_fields.jsonl', '\n'.join([*map(json.dumps, recs), dup]) + '\n')
w('array_field.json', json.dumps({'orders': [*recs[:2], {**recs[2], 'qty': [1, 1]}, *recs[3:]]}, indent=1) + '\n')  # line items where one value belongs
w('out_of_range.csv', lines(G[0], 'O0002,2026-01-02,Ben Kurz,0,5.00,DE', 'O0003,2026-01-03,Cleo Roth,5000,12.50,CH',
                            'O0004,2026-01-03,Dan Weiss,4,-3.20,AT', 'O0005,2026-01-04,Eva Lang,1,99.00,FR', 'O0006,2031-13-01,Finn,1,1.00,AT'))
w('nan_inf.csv', lines(G[0], 'O0002,2026-01-02,Ben Kurz,1,NaN,DE', 'O0003,2026-01-03,Cleo Roth,2,inf,CH', 'O0004,2026-01-03,Dan Weiss,4,-Infinity,AT', G[4]))
w('huge_field.csv', lines(G[0], 'O0002,2026-01-02,' + 'B' * 50_000 + ',1,5.00,DE', *G[2:]))
w('retyped.csv', lines(*[','.join(g.split(',')[:3] + [n] + g.split(',')[4:]) for g, n in zip(G, ['three', 'one', 'two', 'four', 'one'])]))
w('new_column.csv', '\n'.join([H + ',channel', *(g + ',web' for g in G)]) + '\n')
w('missing_column.csv', '\n'.join([H.replace(',country', ''), *(g.rsplit(',', 1)[0] for g in G)]) + '\n')
t = pa.table({k: [r[k] for r in recs] for k in recs[0]})
pq.write_table(t, D / 'orders.parquet')
w('truncated.parquet', (D / 'orders.parquet').read_bytes()[:300])
w('tabs.tsv', lines(*G).replace(',', '\t'))
w('quoted_newline.csv', lines(G[0], 'O0002,2026-01-02,"Ben\nKurz, Jr.",1,5.00,DE', G[2], 'O0004,2026-01-03,Dan Weiss,x,3.20,AT'))
print(sorted(p.name for p in D.iterdir()))
