#!/usr/bin/python3
"""Reference values for tests/test_sgd.c from scikit-learn's SGD family.

Writes tests/reference/sgd_fixture.h: three data sets (40 rows of 4 features, one
row all zeros for the passive-aggressive skip; 40 rows of 19 features, past
OpenBLAS's 16-wide daxpy block; the 4 features with half the values zeroed, given
to sklearn as a CSR matrix), targets (2 classes, 3 classes, regression),
sample weights, and for each case the coef_, intercept_, t_ (and n_iter_) that
scikit-learn 1.2.1 gives after
- one partial_fit over all rows with shuffle=False (max_iter = 1 in the case), or
- fit(shuffle=False) with max_iter, tol and n_iter_no_change (max_iter > 1),
or status 1 when sklearn raised its floating-point overflow error.
Cases: every loss x penalty x learning rate, averaged (True, from sample 12) and
not, binary and 3 classes; perceptron; PA-I and PA-II classifier and regressor;
class_weight and sample_weight; a weight-scale reset; epochs with early stops and
the adaptive rate. Doubles are printed with repr() (exact).
Run with Debian's python3-sklearn: /usr/bin/python3 tests/reference/make_sgd_fixtures.py
"""
import os
import warnings

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (PassiveAggressiveClassifier, PassiveAggressiveRegressor,
                                  Perceptron, SGDClassifier, SGDRegressor)

warnings.simplefilter("ignore", ConvergenceWarning)

# Orders match the enums of include/streamfit/sf_sgd.h (the test checks the names).
KINDS = ["sgd_classifier", "sgd_regressor", "perceptron",
         "passive_aggressive_classifier", "passive_aggressive_regressor"]
LOSSES = ["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
          "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
PENALTIES = ["none", "l2", "l1", "elasticnet"]
LRS = ["", "constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"]

rng = np.random.RandomState(20261126)
N = 40
X4 = rng.randn(N, 4) * np.array([1.0, 2.0, 0.5, 1.5])
X4[7] = 0.0
X19 = rng.randn(N, 19)
X4S = X4 * (rng.rand(N, 4) < 0.5)  # half zeros; given to sklearn as CSR (row 7 stays empty)
beta4 = np.array([1.0, -0.5, 2.0, 0.0])
beta19 = rng.randn(19)
Y = {}
for name, X, beta in [("4", X4, beta4), ("19", X19, beta19)]:
    s = X @ beta + 0.5 * rng.randn(N)
    Y[name + "_2"] = np.where(s > 0.2, 5.0, 3.0)
    Y[name + "_3"] = np.select([s < -0.6, s < 0.8], [-2.0, 2.0], 7.0)
    Y[name + "_r"] = s * 3.0 + 1.25
SW = rng.uniform(0, 2, N)
SW[::9] = 0.0
CW2 = {3.0: 2.0}
CW3 = {-2.0: 0.5, 7.0: 3.0}

cases = []  # dicts
preds = []  # decision_function, predict, predict_proba, score of some cases
shuffles = []  # (case, random_state, shuffle_block): partial_fit(shuffle=True) per block


def add(kind, loss, penalty="none", lr="constant", average=0, target=2, data="4", weighted=False,
        alpha=0.01, eta0=0.05, power_t=None, l1_ratio=0.3, epsilon=0.3, C=1.0,
        max_iter=1, tol=None, n_iter_no_change=5, fit_intercept=True, pred=False, shuffle_block=0,
        random_state=0):
    if power_t is None:
        power_t = 0.25 if kind == "sgd_regressor" else 0.5
    X = {"4": X4, "19": X19, "-4": sp.csr_matrix(X4S)}[data]
    y = Y[data.lstrip("-") + ("_r" if target == 0 else "_%d" % target)]
    # weighted: 1 = sample weights, 2 = class weights (classifiers), 3 = both
    if weighted is True:
        weighted = 3 if target else 1
    sw = SW if weighted & 1 else None
    cw = (CW2 if target == 2 else CW3) if weighted & 2 else None
    pen = None if penalty == "none" else penalty
    common = dict(fit_intercept=fit_intercept, shuffle=shuffle_block > 0, max_iter=max_iter, tol=tol,
                  n_iter_no_change=n_iter_no_change, random_state=random_state)
    if kind == "sgd_classifier":
        m = SGDClassifier(loss=loss, penalty=pen, alpha=alpha, l1_ratio=l1_ratio, epsilon=epsilon,
                          learning_rate=lr, eta0=eta0, power_t=power_t, average=average,
                          class_weight=cw, **common)
    elif kind == "sgd_regressor":
        m = SGDRegressor(loss=loss, penalty=pen, alpha=alpha, l1_ratio=l1_ratio, epsilon=epsilon,
                         learning_rate=lr, eta0=eta0, power_t=power_t, average=average, **common)
    elif kind == "perceptron":
        m = Perceptron(penalty=pen, alpha=alpha, l1_ratio=l1_ratio, eta0=eta0, class_weight=cw,
                       **common)
        loss, lr, average = "perceptron", "constant", 0
    elif kind == "passive_aggressive_classifier":
        m = PassiveAggressiveClassifier(C=C, loss=loss, average=average, class_weight=cw, **common)
        lr, penalty, eta0, alpha = ("pa1" if loss == "hinge" else "pa2"), "none", 1.0, 1.0
    else:
        m = PassiveAggressiveRegressor(C=C, loss=loss, epsilon=epsilon, average=average, **common)
        lr, penalty, eta0, alpha = ("pa1" if loss == "epsilon_insensitive" else "pa2"), "none", 1.0, 1.0
    status, coef, intercept, t, n_iter = 0, [], [], 0.0, 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if max_iter == 1:
                B = shuffle_block or N  # shuffle: one partial_fit per block of B rows
                for a in range(0, N, B):
                    kw = {}
                    if target:
                        kw["classes"] = np.unique(y)
                    if sw is not None:
                        kw["sample_weight"] = sw[a:a + B]
                    m.partial_fit(X[a:a + B], y[a:a + B], **kw)
            else:
                if sw is not None:
                    m.fit(X, y, sample_weight=sw)
                else:
                    m.fit(X, y)
        coef = list(np.ravel(m.coef_))
        intercept = list(np.ravel(m.intercept_))
        t = float(m.t_)
        n_iter = int(m.n_iter_)
    except ValueError as e:
        assert "under-/overflow" in str(e), e
        status = 1
    if pred:
        d = m.decision_function(X) if target else m.predict(X)
        pr = m.predict_proba(X) if hasattr(m, "predict_proba") and kind == "sgd_classifier" and \
            loss in ("log_loss", "modified_huber") else np.zeros(0)
        preds.append(dict(case=len(cases), decision=np.ravel(d), predict=m.predict(X), proba=np.ravel(pr),
                          score=m.score(X, y), wscore=m.score(X, y, sample_weight=SW)))
    if shuffle_block:
        shuffles.append((len(cases), random_state, shuffle_block))
    cases.append(dict(kind=KINDS.index(kind), loss=LOSSES.index(loss), penalty=PENALTIES.index(penalty),
                      lr=LRS.index(lr), average=int(average), target=target, data=int(data),
                      weighted=weighted, alpha=alpha, eta0=eta0, power_t=power_t,
                      l1_ratio=l1_ratio, epsilon=epsilon, C=C, max_iter=max_iter,
                      tol=("NAN" if tol is None else repr(tol)), n_iter_no_change=n_iter_no_change,
                      fit_intercept=int(fit_intercept), status=status, t=t, n_iter=n_iter,
                      coef=coef, intercept=intercept))


CLS_LOSSES = ["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"]
REG_LOSSES = ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
# (adaptive runs as constant in partial_fit: tested with the classification losses)
for loss in CLS_LOSSES + REG_LOSSES:
    for penalty in PENALTIES:
        for lr in ["constant", "optimal", "invscaling"] + (["adaptive"] if loss in CLS_LOSSES else []):
            for average in [0, 1, 12] if loss in CLS_LOSSES else [0]:
                add("sgd_classifier", loss, penalty, lr, average, target=2)
for loss in CLS_LOSSES:
    for penalty in PENALTIES:
        for lr in ["constant", "optimal", "invscaling"]:  # adaptive == constant in partial_fit
            for average in [0, 1]:
                add("sgd_classifier", loss, penalty, lr, average, target=3)
for loss in REG_LOSSES:
    for penalty in PENALTIES:
        for lr in ["constant", "optimal", "invscaling"]:
            for average in [0, 1, 12]:
                add("sgd_regressor", loss, penalty, lr, average, target=0)
# predictions
add("sgd_classifier", "log_loss", "l2", "optimal", 0, target=2, pred=True)
add("sgd_classifier", "log_loss", "elasticnet", "invscaling", 1, target=3, pred=True)
add("sgd_classifier", "modified_huber", "l2", "constant", 0, target=2, pred=True)
add("sgd_classifier", "modified_huber", "l1", "optimal", 0, target=3, pred=True)
add("sgd_classifier", "hinge", "l2", "optimal", 0, target=3, pred=True)
add("sgd_regressor", "squared_error", "l2", "invscaling", 0, target=0, pred=True)
add("passive_aggressive_classifier", "hinge", target=2, pred=True)
# averaging that has not started yet: sklearn reports the SGD coef_
add("sgd_classifier", "hinge", "l2", "optimal", 100, target=2)
add("sgd_regressor", "squared_error", "l1", "invscaling", 100, target=0)
add("sgd_classifier", "log_loss", "l2", "optimal", 0, target=2, fit_intercept=False)
# weights
for target in (2, 3):
    add("sgd_classifier", "hinge", "l2", "optimal", 0, target=target, weighted=True)
    add("sgd_classifier", "log_loss", "elasticnet", "invscaling", 1, target=target, weighted=True)
add("sgd_regressor", "huber", "l1", "invscaling", 12, target=0, weighted=True)
# a weight-scale reset (wscale halves each row), with the average folded by daxpy
for data in ("4", "19"):
    add("sgd_classifier", "hinge", "l2", "constant", 1, target=2, data=data, alpha=1.0, eta0=0.5)
    add("sgd_classifier", "log_loss", "elasticnet", "optimal", 1, target=2, data=data)
    add("sgd_classifier", "modified_huber", "l2", "invscaling", 12, target=3, data=data)
    add("sgd_regressor", "squared_error", "elasticnet", "invscaling", 1, target=0, data=data)
# perceptron, passive-aggressive
for target in (2, 3):
    for penalty in PENALTIES:
        add("perceptron", "perceptron", penalty, target=target, eta0=1.0)
    add("perceptron", "perceptron", "none", target=target, eta0=0.5, weighted=True)
    for loss in ("hinge", "squared_hinge"):
        for C in (1.0, 0.05):
            for average in (0, 1):
                add("passive_aggressive_classifier", loss, target=target, C=C, average=average)
    add("passive_aggressive_classifier", "hinge", target=target, average=12, weighted=2)
for loss in ("epsilon_insensitive", "squared_epsilon_insensitive"):
    for C in (1.0, 0.05):
        for average in (0, 1, 12):
            add("passive_aggressive_regressor", loss, target=0, C=C, average=average)
# CSR rows (data "-4": the test builds CSR from sgd_x4s, zeros left out)
for loss, pen, lr, avg, target in [("hinge", "l2", "optimal", 0, 2), ("hinge", "l2", "optimal", 1, 2),
                                   ("log_loss", "elasticnet", "invscaling", 12, 2),
                                   ("modified_huber", "l1", "constant", 0, 2),
                                   ("log_loss", "l1", "optimal", 1, 3), ("hinge", "elasticnet", "constant", 0, 3)]:
    add("sgd_classifier", loss, pen, lr, avg, target=target, data="-4")
add("sgd_classifier", "log_loss", "l2", "optimal", 0, target=2, data="-4", weighted=True)
add("sgd_regressor", "squared_error", "elasticnet", "invscaling", 1, target=0, data="-4")
add("sgd_regressor", "huber", "l1", "optimal", 0, target=0, data="-4")
add("perceptron", "perceptron", "l1", target=3, eta0=1.0, data="-4")
add("passive_aggressive_classifier", "hinge", target=2, average=1, data="-4")
add("passive_aggressive_classifier", "squared_hinge", target=3, C=0.05, data="-4")
add("passive_aggressive_regressor", "epsilon_insensitive", target=0, average=12, data="-4")
add("sgd_classifier", "log_loss", "elasticnet", "adaptive", 0, target=3, eta0=0.1, max_iter=20,
    tol=1e-2, n_iter_no_change=2, data="-4")
# shuffle=True: one call (B = 40: bitwise) or calls of 16 rows (sklearn restarts L1
# and averaging per call, so those use l2 / none, no averaging)
n_plain = None


def shuffled():
    for R, B in ((7, 40), (123456789, 64)):
        add("sgd_classifier", "hinge", "l2", "optimal", 0, target=2, shuffle_block=B, random_state=R)
        add("sgd_classifier", "log_loss", "elasticnet", "optimal", 1, target=2, shuffle_block=B, random_state=R)
        add("sgd_classifier", "modified_huber", "l1", "invscaling", 12, target=3, shuffle_block=B,
            random_state=R, weighted=True)
        add("sgd_regressor", "squared_error", "l1", "invscaling", 1, target=0, shuffle_block=B, random_state=R)
        add("perceptron", "perceptron", "none", target=3, eta0=1.0, shuffle_block=B, random_state=R)
        add("passive_aggressive_classifier", "hinge", target=3, average=1, shuffle_block=B, random_state=R)
        add("passive_aggressive_regressor", "squared_epsilon_insensitive", target=0, shuffle_block=B,
            random_state=R)
    for R in (0, 42):
        add("sgd_classifier", "log_loss", "l2", "optimal", 0, target=2, shuffle_block=16, random_state=R)
        add("sgd_classifier", "hinge", "none", "constant", 0, target=3, shuffle_block=16, random_state=R,
            weighted=True)
        add("sgd_regressor", "huber", "l2", "invscaling", 0, target=0, shuffle_block=16, random_state=R)
        add("perceptron", "perceptron", "l2", target=2, eta0=1.0, shuffle_block=16, random_state=R)


# epochs: sklearn's fit(shuffle=False)
add("sgd_classifier", "hinge", "l2", "optimal", 0, target=2, max_iter=50, tol=1e-3, n_iter_no_change=3)
add("sgd_classifier", "hinge", "l2", "constant", 0, target=3, max_iter=40, tol=1e-2, n_iter_no_change=2)
add("sgd_classifier", "log_loss", "elasticnet", "adaptive", 0, target=3, eta0=0.1, max_iter=40,
    tol=1e-2, n_iter_no_change=2)
add("sgd_classifier", "log_loss", "l1", "optimal", 1, target=2, max_iter=7, tol=None)
add("sgd_classifier", "modified_huber", "elasticnet", "adaptive", 12, target=2, weighted=True,
    max_iter=60, tol=1e-1, n_iter_no_change=2)
add("sgd_regressor", "squared_error", "l2", "invscaling", 0, target=0, max_iter=30, tol=1e-3,
    n_iter_no_change=3)
add("sgd_regressor", "huber", "elasticnet", "adaptive", 1, target=0, max_iter=60, tol=1e-2,
    n_iter_no_change=2)
add("passive_aggressive_classifier", "hinge", target=3, average=1, max_iter=20, tol=1e-3)
add("passive_aggressive_regressor", "epsilon_insensitive", target=0, average=12, max_iter=20, tol=1e-3)
add("perceptron", "perceptron", "l1", target=3, eta0=1.0, max_iter=15, tol=1e-3, n_iter_no_change=2)


n_plain = len(cases)
shuffled()


def arr(v):
    return "{" + ", ".join(repr(float(a)) for a in np.ravel(v)) + "}"


out = ["/* Generated by tests/reference/make_sgd_fixtures.py with scikit-learn %s; do not edit. */"
       % sklearn.__version__,
       "#define SGD_N %d" % N,
       "static const char *const sgd_kind_names[] = {%s};" % ", ".join('"%s"' % k for k in KINDS),
       "static const char *const sgd_loss_names[] = {%s};" % ", ".join('"%s"' % k for k in LOSSES),
       "static const char *const sgd_penalty_names[] = {%s};" % ", ".join('"%s"' % k for k in PENALTIES),
       "static const char *const sgd_lr_names[] = {%s};" % ", ".join('"%s"' % k for k in LRS),
       "static const double sgd_x4[] = %s;" % arr(X4),
       "static const double sgd_x19[] = %s;" % arr(X19),
       "static const double sgd_x4s[] = %s;" % arr(X4S)]
for k, v in Y.items():
    out.append("static const double sgd_y%s[] = %s;" % (k, arr(v)))
out.append("static const double sgd_sw[] = %s;" % arr(SW))
out.append("static const double sgd_cw2_labels[] = {3.0}, sgd_cw2_values[] = {2.0};")
out.append("static const double sgd_cw3_labels[] = {-2.0, 7.0}, sgd_cw3_values[] = {0.5, 3.0};")
out.append("""typedef struct sgd_case {
    int kind, loss, penalty, lr, average, target, data, weighted;
    double alpha, eta0, power_t, l1_ratio, epsilon, C;
    int max_iter;
    double tol;
    int n_iter_no_change, fit_intercept, status;
    double t;
    int n_iter, off;
} sgd_case;""")
vals, rows = [], []
for c in cases:
    c["off"] = len(vals)
    vals.extend(c["coef"] + c["intercept"])
    rows.append("{%(kind)d,%(loss)d,%(penalty)d,%(lr)d,%(average)d,%(target)d,%(data)d,%(weighted)d,"
                "%(alpha)r,%(eta0)r,%(power_t)r,%(l1_ratio)r,%(epsilon)r,%(C)r,%(max_iter)d,%(tol)s,"
                "%(n_iter_no_change)d,%(fit_intercept)d,%(status)d,%(t)r,%(n_iter)d,%(off)d}" % c)
out.append("static const double sgd_values[] = %s;" % arr(vals))
out.append("static const sgd_case sgd_cases[] = {\n" + ",\n".join(rows) + "};")
out.append("#define SGD_N_CASES %d" % len(cases))
out.append("#define SGD_N_PLAIN_CASES %d /* then the shuffle cases */" % n_plain)
out.append("typedef struct sgd_shuffle { int case_index; long long random_state; int block; } sgd_shuffle;")
out.append("static const sgd_shuffle sgd_shuffles[] = {%s};" % ", ".join("{%d, %d, %d}" % t for t in shuffles))
out.append("#define SGD_N_SHUFFLES %d" % len(shuffles))
out.append("typedef struct sgd_pred { int case_index; size_t n_proba; const double *decision, *predict, *proba;"
           " double score, wscore; } sgd_pred;")
for i, p in enumerate(preds):
    out.append("static const double sgd_pred%d_decision[] = %s;" % (i, arr(p["decision"])))
    out.append("static const double sgd_pred%d_predict[] = %s;" % (i, arr(p["predict"])))
    out.append("static const double sgd_pred%d_proba[] = %s;" % (i, arr(np.append(p["proba"], 0.0))))
out.append("static const sgd_pred sgd_preds[] = {\n" + ",\n".join(
    "{%d, %d, sgd_pred%d_decision, sgd_pred%d_predict, sgd_pred%d_proba, %r, %r}"
    % (p["case"], len(p["proba"]), i, i, i, p["score"], p["wscore"]) for i, p in enumerate(preds)) + "};")
out.append("#define SGD_N_PREDS %d" % len(preds))
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sgd_fixture.h")
with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
print("wrote", path, len(cases), "cases,", sum(c["status"] for c in cases), "overflow,",
      os.path.getsize(path), "bytes")
