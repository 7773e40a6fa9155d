#!/usr/bin/python3
"""Differential check of the formula builder against patsy on random formulas
(not part of CI: it needs Python and a built library). Compiles
formula_diffcheck.c against build/, feeds it N random formulas (seeded) over
tests/data/formula_mixed.csv, and compares with patsy.dmatrices / dmatrix:
both fail or neither, equal column names, equal row counts, values to 1e-15
relative (1e-13 absolute with Poly, whose QR differs in rounding).

    /usr/bin/python3 tests/reference/formula_diffcheck.py [SEED] [N]

Prints each disagreement and "checked N bad B".
"""
import os
import random, subprocess, sys, tempfile
import numpy as np, pandas as pd, patsy
from numpy import log, exp, sqrt, log1p
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
csv = os.path.join(root, "tests", "data", "formula_mixed.csv")
driver = os.path.join(tempfile.mkdtemp(), "formula_diffcheck")
subprocess.run(["cc", "-O2", "-std=c11", "-I" + os.path.join(root, "include"), os.path.join(here, "formula_diffcheck.c"),
                "-o", driver, "-L" + os.path.join(root, "build"), "-lstreamfit",
                "-Wl,-rpath," + os.path.join(root, "build")], check=True)
df = pd.read_csv(csv, float_precision='round_trip')
num = ['a', 'b', 'c', 'd', 'x', 'z', 'np.log(x)', 'I(a*b)', 'center(b)', 'I(x > 5)', 'standardize(c, ddof=1)', 'I(x ** 0.5 - z)', 'd >= 0', 'np.exp(-c)', 'I(-z)', 'Q("d")', 'scale(x, center=False)', 'np.sin(c)', 'np.floor(x)']
cat = ['g', 's', 'C(cat1)', 'C(k)', 'C(z, Sum)', 'C(s, Treatment("b"))', 'C(g, Helmert)', 'C(cat1, Diff)', 'C(z, levels=[3, 1, 2])', 'C(cat1, Sum(omit=2))', 'C(k, Treatment(reference=-1))', 'C(g, Sum("mid"))', 'C(z * 2)', 'C(x > 10)', 'C(cat1, levels=range(5))', 'C(s, Diff)', 'C(g, levels=["mid", "lo", "hi"])', 'C(s, Poly)', 'C(cat1, Poly([0, 1, 3, 7, 8]))', "I(g == 'lo')", "C(s != 'a', Sum)"]
def atom():
    if random.random() < 0.08: return random.choice(['1', '0', '-1', '+1', '- 0'])
    return random.choice(num + cat)
def expr(depth=0):
    r = random.random()
    if depth > 2 or r < 0.35: return atom()
    op = random.choice([' + ', ' + ', ':', ' * ', ' / ', ' - '])
    if random.random() < 0.1: return '(%s)**%d' % (expr(depth+1), random.randint(1, 3))
    e = expr(depth+1) + op + expr(depth+1)
    return '(' + e + ')' if random.random() < 0.3 else e
formulas = []
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 200):
    f = expr()
    pre = random.choice(['y ~ ', 'y ~ ', 'y ~ 0 + ', 'y ~ -1 + ', '~ '])
    formulas.append(pre + f)
out = subprocess.run([driver, csv], input='\n'.join(formulas) + '\n', capture_output=True, text=True).stdout
res = {}; cur = None
for line in out.splitlines():
    tag, _, rest = line.partition(' ') if line.startswith(('F ', 'E ')) else line.partition('\t')
    if line.startswith('F '): cur = line[2:]; res[cur] = {'rows': []}
    elif line.startswith('E '): res[cur]['err'] = line[2:]
    elif line.startswith('N'): res[cur]['names'] = line.split('\t')[1:] if '\t' in line else []
    elif line.startswith('R'): res[cur]['rows'].append([float(v) for v in line.split('\t')[1:]])
bad = 0
for f in formulas:
    r = res.get(f)
    try:
        if f.startswith('~'):
            X = patsy.dmatrix(f, df); Y = None
        else:
            Y, X = patsy.dmatrices(f, df)
    except Exception as e:
        if 'err' not in r:
            print('PATSY ERR, ours ok:', f, '|', str(e).splitlines()[0]); bad += 1
        continue
    if 'err' in r:
        print('OURS ERR:', f, '|', r['err']); bad += 1; continue
    names = X.design_info.column_names
    if names != r['names']:
        print('NAMES:', f, '\n  patsy', names, '\n  ours ', r['names']); bad += 1; continue
    M = np.asarray(X)
    if Y is not None: M = np.column_stack([M, np.asarray(Y)[:, 0]])
    ours = np.array(r['rows']).reshape(M.shape[0] if len(r['rows']) == M.shape[0] else -1, M.shape[1]) if r['rows'] else np.zeros((0, M.shape[1]))
    if ours.shape != M.shape or not np.allclose(ours, M, rtol=1e-15, atol=(1e-13 if "Poly" in f else 0), equal_nan=True):
        d = np.abs(ours - M).max() if ours.shape == M.shape else None
        print('VALUES:', f, ours.shape, M.shape, d); bad += 1
print('checked', len(formulas), 'bad', bad)
