#!/usr/bin/python3
"""Reference values for tests/test_svmlight.c from scikit-learn 1.2.1.

Writes
  tests/data/svmlight_tricky.svm   comments, qid, blank lines, CRLF, explicit zeros
  tests/data/svmlight_clf.svm      3 classes, one-based indices (auto: one-based)
  tests/data/svmlight_bin.svm      2 classes, zero-based (index 0 present)
  tests/data/svmlight_reg.svm      regression targets, one-based
  tests/reference/svmlight_fixture.h
with, per file, what load_svmlight_file (zero_based auto / True / False for the
tricky one) returns -- labels, CSR indptr / indices / data, n_features -- and, per
model below, coef_, intercept_, t_ and predict / decision_function / predict_proba
(on the first N_PRED rows) after ONE partial_fit over all rows of the loaded CSR matrix (shuffle=False, the
classes given), which a streaming fit in any chunking must equal.
Numbers are printed with repr() (shortest round-trip text: exact).

Several files (read as one source), with load_svmlight_files:
  tests/data/svmlight_multi_a_1.svm, _a_2.svm.gz, _a_3.svm
      one-based, different widths (n_features: file 3's), a label only file 3
      has (5); the middle one gzipped (mtime 0: reproducible)
  tests/data/svmlight_multicat_a.svm   the three files' text concatenated
  tests/data/svmlight_multi_b_1.svm, _b_2.svm
      file 1 alone is one-based; file 2 has an index 0 (written "-0", which
      Python's int() reads as 0), so "auto" makes BOTH zero-based
  tests/data/svmlight_multi_c_1.svm, _c_2.svm
      file 2 has no index at all, so "auto" shifts neither (sklearn shifts only
      when every file has indices, all > 0)
  tests/reference/svmlight_multi_fixture.h (include it after svmlight_fixture.h)
with, per set, the rows of load_svmlight_files (zero_based auto) stacked in file
order, and, for set a, coef_ / intercept_ / t_ of SGDClassifier after ONE
partial_fit over all of them.
Run with Debian's python3-sklearn: /usr/bin/python3 tests/reference/make_svmlight_fixtures.py
"""
import gzip
import io
import os
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_svmlight_file, load_svmlight_files
from sklearn.linear_model import (SGDClassifier, SGDRegressor, Perceptron,
                                  PassiveAggressiveClassifier, PassiveAggressiveRegressor)
from sklearn.preprocessing import StandardScaler

here = os.path.dirname(os.path.abspath(__file__))
data_dir = os.path.join(here, "..", "data")

TRICKY = (b"# a comment line: 1:2 is not data\n"
          b"1 qid:3 1:0.5 3:-2 # trailing 9:9\n"
          b"\n"
          b"   \t \n"
          b"-1 2:1e-3 4:0\r\n"
          b"2.5 1:1 2:.25E+2 5:-0\n"
          b"  7\t3:123456789.125  \n"
          b"0 qid:1\n"
          b"+3 1:inf 2:-1.5")          # no newline at the end; an infinite value


def fmt(v):
    """A varied but exact text for v (repr, or an exponent form)."""
    r = repr(float(v))
    return r


def make_rows(rng, n, p, nnz, one_based, zero_frac=0.05):
    rows = []
    for i in range(n):
        k = rng.randint(1, nnz + 1)
        idx = np.sort(rng.choice(p, size=k, replace=False))
        vals = np.round(rng.randn(k) * rng.choice([0.5, 1, 3]), rng.randint(1, 6))
        vals[rng.rand(k) < zero_frac] = 0.0        # explicit zeros are kept
        rows.append((idx + (1 if one_based else 0), vals))
    return rows


def svm_text(y, rows, comment_every=0):
    lines = []
    for i, (yi, (idx, vals)) in enumerate(zip(y, rows)):
        label = ("%d" % yi) if float(yi).is_integer() else fmt(yi)
        line = label + "".join(" %d:%s" % (j, fmt(v)) for j, v in zip(idx, vals))
        if comment_every and i % comment_every == 3:
            line += "  # row %d" % i
        lines.append(line + "\n")
    return "".join(lines)


def write_svm(path, y, rows, comment_every=0):
    with open(path, "w") as f:
        f.write(svm_text(y, rows, comment_every))


rng = np.random.RandomState(20260501)
P_CLF, P_BIN, P_REG = 40, 30, 25
n_clf, n_bin, n_reg = 420, 360, 300
rows_clf = make_rows(rng, n_clf, P_CLF, 9, True)
y_clf = rng.randint(0, 3, n_clf) * 2 - 1.0          # classes -1, 1, 3
rows_bin = make_rows(rng, n_bin, P_BIN, 7, False)
rows_bin[5] = (np.array([0, 4]), np.array([1.5, -2.0]))  # index 0: auto -> zero-based
w_true = rng.randn(P_BIN)
y_bin = np.array([1.0 if sum(w_true[j] * v for j, v in zip(idx, vals)) > 0 else 0.0
                  for idx, vals in rows_bin])
rows_reg = make_rows(rng, n_reg, P_REG, 6, True)
w_reg = rng.randn(P_REG)
y_reg = np.array([sum(w_reg[j - 1] * v for j, v in zip(idx, vals)) + 0.1 * rng.randn()
                  for idx, vals in rows_reg])
y_reg = np.round(y_reg, 6)

with open(os.path.join(data_dir, "svmlight_tricky.svm"), "wb") as f:
    f.write(TRICKY)
write_svm(os.path.join(data_dir, "svmlight_clf.svm"), y_clf, rows_clf, comment_every=11)
write_svm(os.path.join(data_dir, "svmlight_bin.svm"), y_bin, rows_bin)
write_svm(os.path.join(data_dir, "svmlight_reg.svm"), y_reg, rows_reg)


def hexs(a):
    out = []
    for v in np.ravel(np.asarray(a, dtype=float)):
        if np.isnan(v):
            out.append("NAN")
        elif np.isinf(v):
            out.append("INFINITY" if v > 0 else "-INFINITY")
        else:
            out.append(repr(float(v)))
    return ", ".join(out) if out else "0"


def ints(a):
    a = list(np.ravel(a))
    return ", ".join("%d" % v for v in a) if a else "0"


out = ["/* Generated by tests/reference/make_svmlight_fixtures.py with scikit-learn %s; do not edit. */"
       % sklearn.__version__,
       "#include <math.h>",
       "typedef struct svm_expect { size_t n_rows, nnz, n_features; const double *y; const size_t *indptr;",
       "                            const unsigned *indices; const double *data; } svm_expect;"]


def emit(out, name, X, y):
    out.append("static const double %s_y[] = {%s};" % (name, hexs(y)))
    out.append("static const size_t %s_indptr[] = {%s};" % (name, ints(X.indptr)))
    out.append("static const unsigned %s_indices[] = {%s};" % (name, ints(X.indices)))
    out.append("static const double %s_data[] = {%s};" % (name, hexs(X.data)))
    out.append("static const svm_expect %s = {%d, %d, %d, %s_y, %s_indptr, %s_indices, %s_data};"
               % (name, X.shape[0], X.nnz, X.shape[1], name, name, name, name))


def expect(name, path, **kw):
    X, y = load_svmlight_file(path, **kw)
    emit(out, name, X, y)
    return X, y


tricky = os.path.join(data_dir, "svmlight_tricky.svm")
expect("svm_tricky_auto", tricky)
expect("svm_tricky_true", tricky, zero_based=True)
expect("svm_tricky_false", tricky, zero_based=False)
out.append("static const unsigned long long svm_tricky_lines[] = {2, 5, 6, 7, 8, 9};")

Xc, yc = expect("svm_clf", os.path.join(data_dir, "svmlight_clf.svm"))
Xb, yb = expect("svm_bin", os.path.join(data_dir, "svmlight_bin.svm"))
Xr, yr = expect("svm_reg", os.path.join(data_dir, "svmlight_reg.svm"))
assert Xc.shape[1] == P_CLF and Xb.shape[1] == P_BIN and Xr.shape[1] == P_REG
out.append("#define SVM_CLF_N %d\n#define SVM_CLF_P %d" % Xc.shape)

# (name, file, spec for streamfit, sklearn estimator, scaler first)
models = [
    ("clf_hinge", "clf", "sgd_classifier(loss=hinge, max_iter=1)", SGDClassifier(loss="hinge"), False),
    ("clf_log_en", "clf", "sgd_classifier(loss=log_loss, penalty=elasticnet, l1_ratio=0.3, max_iter=1)",
     SGDClassifier(loss="log_loss", penalty="elasticnet", l1_ratio=0.3), False),
    ("clf_mhuber_avg", "clf", "sgd_classifier(loss=modified_huber, average=true, max_iter=1)",
     SGDClassifier(loss="modified_huber", average=True), False),
    ("clf_perceptron", "clf", "perceptron(max_iter=1)", Perceptron(), False),
    ("clf_pa", "clf", "passive_aggressive_classifier(C=0.5, max_iter=1)", PassiveAggressiveClassifier(C=0.5), False),
    ("bin_log", "bin", "sgd_classifier(loss=log_loss, max_iter=1)", SGDClassifier(loss="log_loss"), False),
    ("bin_hinge_l1", "bin", "sgd_classifier(loss=hinge, penalty=l1, learning_rate=invscaling, eta0=0.1, max_iter=1)",
     SGDClassifier(loss="hinge", penalty="l1", learning_rate="invscaling", eta0=0.1), False),
    ("bin_pa_avg", "bin", "passive_aggressive_classifier(average=5, max_iter=1)",
     PassiveAggressiveClassifier(average=5), False),
    ("reg_sq", "reg", "sgd_regressor(max_iter=1)", SGDRegressor(), False),
    ("reg_huber_avg", "reg", "sgd_regressor(loss=huber, average=10, eta0=0.05, max_iter=1)",
     SGDRegressor(loss="huber", average=10, eta0=0.05), False),
    ("reg_pa", "reg", "passive_aggressive_regressor(max_iter=1)", PassiveAggressiveRegressor(), False),
    ("bin_scaled_log", "bin", "scaler(with_mean=false) | sgd_classifier(loss=log_loss, max_iter=1)",
     SGDClassifier(loss="log_loss"), True),
]
N_PRED = 60
out.append("#define SVM_N_PRED %d" % N_PRED)
data = {"clf": (Xc, yc), "bin": (Xb, yb), "reg": (Xr, yr)}
out.append("typedef struct svm_model { const char *name, *file, *spec; size_t n_coef, n_out, n_proba;")
out.append("    const double *coef, *intercept; double t; const double *predict, *decision, *proba;")
out.append("    const double *scale; } svm_model;")
entries = []
for name, file, spec, est, scaled in models:
    est.set_params(shuffle=False)  # sklearn's partial_fit shuffles by default; streamfit learns in data order
    X, y = data[file]
    scale = None
    if scaled:
        sc = StandardScaler(with_mean=False).partial_fit(X)
        scale = sc.scale_
        X = sc.transform(X)
    if hasattr(est, "classes_") or est._estimator_type == "classifier":
        est.partial_fit(X, y, classes=np.unique(y))
    else:
        est.partial_fit(X, y)
    coef = np.atleast_2d(est.coef_)
    Xp = X[:N_PRED]    # predictions on the first rows keep the header small
    pred = est.predict(Xp)
    dec = est.decision_function(Xp) if est._estimator_type == "classifier" else pred
    proba = est.predict_proba(Xp) if hasattr(est, "predict_proba") and getattr(est, "loss", "") in ("log_loss", "modified_huber") else None
    out.append("static const double m_%s_coef[] = {%s};" % (name, hexs(coef)))
    out.append("static const double m_%s_intercept[] = {%s};" % (name, hexs(est.intercept_)))
    out.append("static const double m_%s_predict[] = {%s};" % (name, hexs(pred)))
    out.append("static const double m_%s_decision[] = {%s};" % (name, hexs(dec)))
    if proba is not None:
        out.append("static const double m_%s_proba[] = {%s};" % (name, hexs(proba)))
    if scale is not None:
        out.append("static const double m_%s_scale[] = {%s};" % (name, hexs(scale)))
    n_out = 1 if np.ndim(dec) == 1 else dec.shape[1]
    entries.append('    {"%s", "svmlight_%s.svm", "%s", %d, %d, %d, m_%s_coef, m_%s_intercept, %s, m_%s_predict, '
                   'm_%s_decision, %s, %s}'
                   % (name, file, spec, coef.shape[0], n_out, 0 if proba is None else proba.shape[1], name, name,
                      float(est.t_).hex(), name, name, "m_%s_proba" % name if proba is not None else "NULL",
                      "m_%s_scale" % name if scale is not None else "NULL"))
out.append("static const svm_model svm_models[] = {\n%s\n};" % ",\n".join(entries))
out.append("#define SVM_N_MODELS %d" % len(entries))

with open(os.path.join(here, "svmlight_fixture.h"), "w") as f:
    f.write("\n".join(out) + "\n")


# ---- several files as one source ----

def write_bytes(name, text):
    data = text.encode()
    if name.endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as g:
            g.write(data)
        data = buf.getvalue()
    path = os.path.join(data_dir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def part(rng, n, p, nnz, labels, comment_every=0):
    return svm_text(rng.choice(labels, n), make_rows(rng, n, p, nnz, True), comment_every)


rng = np.random.RandomState(20260502)
a_text = [part(rng, 120, 24, 6, [-1, 1], comment_every=13), part(rng, 90, 30, 6, [1, 3]),
          "\n# a blank line and a comment first\n" + part(rng, 150, 36, 7, [-1, 3, 5])]
a_paths = [write_bytes(f, t) for f, t in zip(["svmlight_multi_a_1.svm", "svmlight_multi_a_2.svm.gz",
                                              "svmlight_multi_a_3.svm"], a_text)]
write_bytes("svmlight_multicat_a.svm", "".join(a_text))
b_paths = [write_bytes("svmlight_multi_b_1.svm", part(rng, 40, 10, 4, [0, 1])),
           write_bytes("svmlight_multi_b_2.svm", "1 -0:2.5 3:1\n" + part(rng, 30, 12, 4, [0, 1]))]
c_paths = [write_bytes("svmlight_multi_c_1.svm", part(rng, 25, 8, 3, [2, 4])),
           write_bytes("svmlight_multi_c_2.svm", "2\n4 # no features\n2\n")]

out = ["/* Generated by tests/reference/make_svmlight_fixtures.py with scikit-learn %s; do not edit."
       % sklearn.__version__,
       " * Include after svmlight_fixture.h (svm_expect, svm_model). */"]


def expect_files(name, paths):
    r = load_svmlight_files(paths)  # zero_based="auto", n_features=None
    Xs, ys = r[0::2], r[1::2]
    X, y = sp.vstack(Xs, format="csr"), np.concatenate(ys)
    emit(out, name, X, y)
    out.append("static const size_t %s_file_rows[] = {%s};" % (name, ints([Z.shape[0] for Z in Xs])))
    return X, y


Xa, ya = expect_files("svm_multi_a", a_paths)
Xb, yb = expect_files("svm_multi_b", b_paths)
Xc, yc = expect_files("svm_multi_c", c_paths)
assert Xa.shape[1] == 36 and Xb.shape[1] == 13 and Xc.shape[1] == 9
assert Xb.indices.min() == 0 and Xc.indices.max() == 8  # b zero-based; c not shifted
classes = np.unique(ya)
out.append("static const double svm_multi_a_classes[] = {%s};" % hexs(classes))
out.append("#define SVM_MULTI_A_N_CLASSES %d" % len(classes))
multi_models = [
    ("multi_hinge", "sgd_classifier(loss=hinge, max_iter=1)", SGDClassifier(loss="hinge")),
    ("multi_log_avg", "sgd_classifier(loss=log_loss, average=true, alpha=0.001, max_iter=1)",
     SGDClassifier(loss="log_loss", average=True, alpha=0.001)),
]
entries = []
for name, spec, est in multi_models:
    est.set_params(shuffle=False)
    est.partial_fit(Xa, ya, classes=classes)
    out.append("static const double m_%s_coef[] = {%s};" % (name, hexs(est.coef_)))
    out.append("static const double m_%s_intercept[] = {%s};" % (name, hexs(est.intercept_)))
    entries.append('    {"%s", "svmlight_multi_a_*", "%s", %d, 0, 0, m_%s_coef, m_%s_intercept, %s, NULL, NULL, '
                   'NULL, NULL}' % (name, spec, est.coef_.shape[0], name, name, float(est.t_).hex()))
out.append("static const svm_model svm_multi_models[] = {\n%s\n};" % ",\n".join(entries))
out.append("#define SVM_MULTI_N_MODELS %d" % len(entries))

with open(os.path.join(here, "svmlight_multi_fixture.h"), "w") as f:
    f.write("\n".join(out) + "\n")
