#!/usr/bin/python3
"""Reference design matrices for tests/test_formula.c from patsy.

Writes tests/data/formula_mixed.csv (a generated mixed-type frame: numeric
columns with missing values, integer columns with and without missing values,
text columns with missing values) and tests/reference/formula_fixture.h: for
each formula, patsy's column names and the full matrices dmatrices(formula,
data) (or dmatrix for one-sided formulas) builds from pandas.read_csv of that
file, with patsy's default NA_action="drop". Doubles are printed with repr()
(shortest round trip: exact). tests/reference/formula_random_fixture.h holds
60 random formulas (seeded) over the same frame: patsy's names, row counts and
column sums.
Run with Debian's python3-patsy: /usr/bin/python3 tests/reference/make_formula_fixtures.py
"""
import os
import numpy as np
import pandas as pd
import patsy
from numpy import log, exp, sqrt, log1p  # noqa: F401  (formulas use them bare)

here = os.path.dirname(os.path.abspath(__file__))
data_dir = os.path.join(here, "..", "data")
rng = np.random.RandomState(20261126)
n = 50

def with_missing(v, frac):
    v = v.astype(object)
    v[rng.rand(len(v)) < frac] = None
    return v

cols = {}
cols["y"] = np.round(rng.randn(n) * 3 + 1, 6)
cols["a"] = rng.randn(n)
cols["b"] = rng.randn(n) * 2 + 0.5
cols["c"] = rng.randn(n)
cols["d"] = rng.uniform(-1, 1, n)
cols["x"] = rng.uniform(0.1, 20, n)
cols["cat1"] = rng.randint(0, 5, n)               # integer-coded: C(cat1) names levels 0..4
cols["k"] = rng.randint(1, 4, n).astype(float)     # integers with missing values: float64 in pandas
cols["z"] = rng.randint(1, 4, n)                   # small integers, numeric
cols["g"] = rng.choice(["lo", "mid", "hi"], n).astype(object)
cols["s"] = rng.choice(["a", "b", "c", "d"], n).astype(object)
y = cols["y"].astype(object); y[[3, 17]] = None; cols["y"] = y
a = cols["a"].astype(object); a[[5, 40]] = None; cols["a"] = a
k = cols["k"].astype(object); k[[2, 33, 45]] = None; cols["k"] = k
g = cols["g"]; g[[7, 41]] = None
df0 = pd.DataFrame(cols)
csv_path = os.path.join(data_dir, "formula_mixed.csv")
with open(csv_path, "w") as f:
    f.write(",".join(df0.columns) + "\n")
    for i in range(n):
        row = []
        for c in df0.columns:
            v = df0[c].iloc[i]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                row.append("")
            elif isinstance(v, (float, np.floating)):
                row.append(repr(float(v)) if c != "k" else str(int(v)))
            else:
                row.append(str(v))
        f.write(",".join(row) + "\n")

df = pd.read_csv(csv_path, float_precision="round_trip")
assert df["cat1"].dtype == np.int64 and df["z"].dtype == np.int64 and df["k"].dtype == np.float64
lnames = np.arange(5)

# (formula, define) pairs; define is "name=value" given to sf_design_define
formulas = [
    ("y ~ a + b", None),
    ("y ~ a * b", None),
    ("y ~ a:b + c", None),
    ("y ~ (a + b + c)**2", None),
    ("y ~ 0 + a + b", None),
    ("y ~ a + b - 1", None),
    ("y ~ a + b + a:b - a", None),
    ("y ~ 1", None),
    ("y ~ C(cat1)", None),
    ("y ~ 0 + C(cat1)", None),
    ("y ~ g", None),
    ("y ~ g + s", None),
    ("y ~ g:s", None),
    ("y ~ g * s", None),
    ("y ~ a:g", None),
    ("y ~ a + a:g", None),
    ("y ~ a / g", None),
    ("y ~ g / a", None),
    ("y ~ a * g * s", None),
    ("y ~ (g + s + C(cat1))**2", None),
    ("y ~ g:s:C(cat1) - 1", None),
    ("y ~ C(cat1, Treatment(reference=2))", None),
    ("y ~ C(cat1, Sum(omit=0)) + C(s, Treatment('c'))", None),
    ("y ~ C(s, Sum)", None),
    ("y ~ 0 + C(s, Sum)", None),
    ("y ~ C(s, Helmert) + C(g, Diff)", None),
    ("y ~ 0 + C(s, Helmert) + C(g, Diff):a", None),
    ("y ~ C(k)", None),
    ("y ~ C(z) + z", None),
    ("y ~ C(cat1, levels=[4, 3, 2, 1, 0])", None),
    ("y ~ C(cat1, levels=range(5)) + C(s, levels=['d', 'c', 'b', 'a'])", None),
    ("y ~ I(a + b) + I(a * b) + I(a / x) + I(a ** 2) + I(-a) + I(2 * a - 1)", None),
    ("y ~ I(x ** 0.5) + I(x ** -1) + I(x ** 1.5) + I((a + 1) ** 3)", None),
    ("np.log(y + 10) ~ np.log(x) + np.sqrt(x) + np.exp(a / 10) + np.log1p(x) + abs(a)", None),
    ("y ~ log(x) + exp(d) + sqrt(x) + log1p(x)", None),
    ("y ~ np.square(a) + np.floor(x) + np.ceil(b) + np.sin(c) + np.cos(d) + np.tan(d) + np.tanh(b) + np.arctan(x) + C(np.floor(x / 5))", None),
    ("y ~ center(b) + standardize(c) + scale(d, ddof=1) + center(x):g", None),
    ("y ~ Q('a') + Q('s')", None),
    ("~ a + g", None),
    ("0 + a + b + c + d + d:c + a:b + a:c + C(cat1, Treatment, levels = lnames)", "lnames=np.arange(5)"),
    ("y ~ C(z, Treatment(-1)):C(g) + b", None),
    ("y ~ I(a > 0) + C(x > 10) + I((b > 0) * 2) + I(k == 2)", None),
    ("y ~ a:(c < 0) + (d >= 0) + C(z != 2, Sum)", None),
    ("y ~ I(g == 'lo') + (s != 'a'):a + C(g == 'mid', Sum) + Q('s') == 'b'", None),
    ("y ~ C(s, Poly) + C(cat1, Poly(scores=[0, 1, 3, 7, 8])):a + 0:C(g, Poly)", None),
]

# Random formulas over the same frame (a fixed seed): names, row counts and column
# sums, a wide net for term ordering, redundancy and naming.
import random
random.seed(4)
num_atoms = ["a", "b", "c", "d", "x", "z", "np.log(x)", "I(a*b)", "center(b)", "I(x > 5)"]
cat_atoms = ["g", "s", "C(cat1)", "C(k)", "C(z, Sum)", 'C(s, Treatment("b"))', "C(g, Helmert)",
             "C(cat1, Diff)", "C(z, levels=[3, 1, 2])"]

def rand_expr(depth=0):
    if depth > 2 or random.random() < 0.35:
        return random.choice(num_atoms + cat_atoms)
    if random.random() < 0.1:
        return "(%s)**%d" % (rand_expr(depth + 1), random.randint(1, 3))
    e = rand_expr(depth + 1) + random.choice([" + ", " + ", ":", " * ", " / ", " - "]) + rand_expr(depth + 1)
    return "(" + e + ")" if random.random() < 0.3 else e

random_formulas = []
while len(random_formulas) < 60:
    f = random.choice(["y ~ ", "y ~ ", "y ~ 0 + ", "y ~ -1 + ", "~ "]) + rand_expr()
    try:
        if f.startswith("~"):
            X = patsy.dmatrix(f, df)
        else:
            X = patsy.dmatrices(f, df)[1]
    except patsy.PatsyError:
        continue
    random_formulas.append((f, X.design_info.column_names, X.shape[0], np.asarray(X).sum(axis=0)))

def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

out = ["/* Generated by tests/reference/make_formula_fixtures.py with patsy %s, pandas %s; do not edit. */"
       % (patsy.__version__, pd.__version__),
       "typedef struct formula_case {",
       "    const char *formula, *define;",
       "    int has_y;",
       "    size_t n, p;",
       "    const char *const *names;",
       "    const double *x, *y;",
       "} formula_case;"]
cases = []
for i, (f, define) in enumerate(formulas):
    if "~" in f and not f.strip().startswith("~"):
        yv, X = patsy.dmatrices(f, df, return_type="matrix")
        yv = np.asarray(yv)[:, 0]
    else:
        X = patsy.dmatrix(f, df, return_type="matrix")
        yv = None
    names = X.design_info.column_names
    Xa = np.asarray(X)
    out.append("static const char *const formula_names_%d[] = {%s};" % (i, ", ".join(cstr(s) for s in names) or "NULL"))
    out.append("static const double formula_x_%d[] = {%s};" % (i, ", ".join(repr(float(v)) for v in Xa.ravel()) or "0"))
    if yv is not None:
        out.append("static const double formula_y_%d[] = {%s};" % (i, ", ".join(repr(float(v)) for v in yv)))
    cases.append("    {%s, %s, %d, %d, %d, formula_names_%d, formula_x_%d, %s}," % (
        cstr(f), cstr(define) if define else "NULL", yv is not None, Xa.shape[0], Xa.shape[1], i, i,
        "formula_y_%d" % i if yv is not None else "NULL"))
out.append("static const formula_case formula_cases[] = {")
out += cases
out.append("};")
out.append("#define N_FORMULA_CASES %d" % len(cases))
with open(os.path.join(here, "formula_fixture.h"), "w") as fh:
    fh.write("\n".join(out) + "\n")
out = ["/* Generated by tests/reference/make_formula_fixtures.py with patsy %s; do not edit. */" % patsy.__version__]
out.append("typedef struct random_case { const char *formula; size_t n, p; const char *const *names; const double *sums; } random_case;")
for i, (f, names, nrows, sums) in enumerate(random_formulas):
    out.append("static const char *const random_names_%d[] = {%s};" % (i, ", ".join(cstr(s) for s in names) or "NULL"))
    out.append("static const double random_sums_%d[] = {%s};" % (i, ", ".join(repr(float(v)) for v in sums) or "0"))
out.append("static const random_case random_cases[] = {")
for i, (f, names, nrows, sums) in enumerate(random_formulas):
    out.append("    {%s, %d, %d, random_names_%d, random_sums_%d}," % (cstr(f), nrows, len(names), i, i))
out.append("};")
out.append("#define N_RANDOM_CASES %d" % len(random_formulas))
with open(os.path.join(here, "formula_random_fixture.h"), "w") as fh:
    fh.write("\n".join(out) + "\n")
