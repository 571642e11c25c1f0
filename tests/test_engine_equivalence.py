"""The optimised engine against straightforward per-case formulas in long double, on hard problems.

The reference takes every case and every category one at a time: pi_k = F(u_k) - F(u_{k-1}) (as
F(u_k) F(-u_{k-1}) (1 - e^(u_{k-1} - u_k)), exact in long double), its gradient and Hessian in theta written out
from f and f', the information as sum_i sum_k g g' / pi, the log det and inverse from a long-double Cholesky, and the
Jeffreys penalty's gradient as 0.5 tr(I^-1 dI/dtheta_j) from the second derivatives of pi. The engine builds all of
these differently (log scale, thresholds first, tridiagonal blocks, shared tables), so any slip shows.

The problems have exact inputs (integer predictors, slopes in eighths), so u = alpha - x'beta has no rounding and
the comparison measures the engine's arithmetic alone: thresholds 2^-30, 2^-20 and 2^-10 apart, and cases at
|u| up to 720, where F(u_k) - F(u_{k-1}) underflows to 0 in double. Tolerances are a few units of rounding, times
the amplification the formulas cannot avoid where there is some: a narrow category's ratios f/pi ~ 1/gap cancel in
differences (score ~ eps/gap, Hessian ~ eps/gap^2, information ~ eps/sqrt(gap) of its scale), log det and the
penalty's gradient move with the condition number, and far-tail cases cancel in the observed Hessian's r s - r^2.
"""

import numpy as np
import pytest
from scipy.special import expit

from upgrading.ordinal.batch import Batch
from upgrading.ordinal.engine import evaluate, newton
from upgrading.ordinal.likelihood import case_bounds, information, log_probability, loglik, probabilities

LD = np.longdouble
EPS = np.finfo(float).eps
REGULAR, GAP_30, GAP_20, GAP_10, FAR, FAR_GAP = range(6)  # the problems of `hard_problems`

pytestmark = pytest.mark.skipif(np.finfo(LD).eps > 1e-18, reason="the reference needs extended precision")


def _F(u):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-u))


def reference(theta, X, K):
    """pi (R, n, K), d pi / d theta (R, n, K, q) and d2 pi / d theta2 (R, n, K, q, q), case by case in long double."""
    theta, X = theta.astype(LD), X.astype(LD)
    R, n, p = X.shape
    T = K - 1
    u = theta[:, None, :T] - np.einsum("rnp,rp->rn", X, theta[:, T:])[..., None]
    pi = np.empty((R, n, K), LD)
    for k in range(K):  # category k lies between bounds k-1 and k (-inf and +inf beyond the ends)
        upper = _F(u[..., k]) if k < T else 1
        lower_tail = _F(-u[..., k - 1]) if k > 0 else 1
        gap = -np.expm1(u[..., k - 1] - u[..., k]) if 0 < k < T else 1
        pi[..., k] = upper * lower_tail * gap
    zero = np.zeros((R, n, 1), LD)
    f = np.concatenate([zero, _F(u) * _F(-u), zero], axis=2)  # at bounds -1..K-1 (infinite ends: 0)
    df = np.concatenate([zero, _F(u) * _F(-u) * (1 - 2 * _F(u)), zero], axis=2)
    du = np.zeros((R, n, K + 1, T + p), LD)  # d bound / d theta = e_t - (0, x)
    for t in range(T):
        du[:, :, t + 1, t] = 1
        du[:, :, t + 1, T:] = -X
    g = f[..., 1:, None] * du[:, :, 1:] - f[..., :-1, None] * du[:, :, :-1]
    outer = du[..., :, None] * du[..., None, :]
    H = df[..., 1:, None, None] * outer[:, :, 1:] - df[..., :-1, None, None] * outer[:, :, :-1]
    return pi, g, H


def _cholesky_log_det_inverse(A):
    R, q, _ = A.shape
    L = np.zeros_like(A)
    for j in range(q):
        L[:, j, j] = np.sqrt(A[:, j, j] - np.sum(L[:, j, :j] ** 2, axis=1))
        for i in range(j + 1, q):
            L[:, i, j] = (A[:, i, j] - np.sum(L[:, i, :j] * L[:, j, :j], axis=1)) / L[:, j, j]
    W = np.zeros_like(A)  # L^-1
    for j in range(q):
        W[:, j, j] = 1 / L[:, j, j]
        for i in range(j + 1, q):
            W[:, i, j] = -np.sum(L[:, i, j:i] * W[:, j:i, j], axis=1) / L[:, i, i]
    return 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1), np.einsum("rmi,rmj->rij", W, W)


def reference_fit_terms(theta, X, y, w, K):
    """Long-double log-likelihood, score, Hessian, information, log det and penalty gradient, straight from the
    per-case derivatives."""
    pi, g, H = reference(theta, X, K)
    w = w.astype(LD)
    at = y[..., None]
    p = np.take_along_axis(pi, at, 2)[..., 0]
    s = np.take_along_axis(g, at[..., None], 2)[:, :, 0] / p[..., None]
    Hy = np.take_along_axis(H, at[..., None, None], 2)[:, :, 0] / p[..., None, None]
    hessian = np.einsum("rn,rnqs->rqs", w, Hy - s[..., :, None] * s[..., None, :])
    info = np.einsum("rn,rnkq,rnks->rqs", w, g / pi[..., None], g)
    logdet, inv = _cholesky_log_det_inverse(info)
    v = np.einsum("rqs,rnks->rnkq", inv, g)  # 0.5 tr(I^-1 dI_j) = sum w [g'I^-1 H[:, j] / pi - 0.5 g'I^-1 g g_j / pi^2]
    dI = np.einsum("rnkjs,rnks->rnkj", H, v) / pi[..., None]
    dI -= 0.5 * np.einsum("rnkq,rnkq->rnk", g, v)[..., None] * g / pi[..., None] ** 2
    terms = dict(ll=np.sum(w * np.log(p), axis=1), score=np.einsum("rn,rnq->rq", w, s), hessian=hessian)
    return terms | dict(pi=pi, info=info, logdet=logdet, pgrad=np.einsum("rn,rnkj->rj", w, dI))


def hard_problems(K, seed=0, n=40, p=3):
    """Six problems with exact u: regular; thresholds 2^-30, 2^-20, 2^-10 apart; five cases at |u| ~ 500-720;
    those with thresholds 2^-8 apart. Every category is observed (a narrow one too)."""
    rng = np.random.default_rng(seed)
    R, T = 6, K - 1
    X = rng.integers(-2, 3, (R, n, p)).astype(float)
    beta = rng.integers(-8, 9, (R, p)) / 8
    beta[:, 0] = 0.125
    alpha = np.tile(np.linspace(-1.5, 1.5, T), (R, 1))
    if T > 1:
        for r, gap in ((GAP_30, 2.0**-30), (GAP_20, 2.0**-20), (GAP_10, 2.0**-10), (FAR_GAP, 2.0**-8)):
            alpha[r, 1] = alpha[r, 0] + gap
    X[[FAR, FAR_GAP], :5, 0] = [5600, -5600, 5000, -4000, 5760]  # eta = 700, -700, 625, -500, 720
    y = rng.permuted(np.tile(np.arange(n) % K, (R, 1)), axis=1)
    return np.concatenate([alpha, beta], axis=1), X, y, np.ones((R, n))


def _gaps(K):
    """The narrowest category of each problem (1 where none is narrow)."""
    return np.array([1.0, 2.0**-30, 2.0**-20, 2.0**-10, 1.0, 2.0**-8]) if K > 2 else np.ones(6)


def _scaled(error, diagonal):
    """Entrywise error of a matrix in units of sqrt(|A_jj A_kk|), the scale of its entries."""
    d = np.sqrt(np.abs(np.diagonal(diagonal, axis1=1, axis2=2))).astype(float)
    return np.abs(error).astype(float) / (d[:, :, None] * d[:, None, :])


@pytest.fixture(scope="module", params=[2, 3, 5], ids=lambda K: f"K={K}")
def hard(request):
    K = request.param
    theta, X, y, w = hard_problems(K)
    b = Batch(y, X, w, K, [f"x{j}" for j in range(X.shape[2])])
    return K, theta, b, reference_fit_terms(theta, X, y, w, K)


def test_category_probabilities_stay_exact_where_a_naive_difference_underflows(hard):
    K, theta, b, ref = hard
    T = K - 1
    u = theta[:, None, :T] - np.einsum("rnp,rp->rn", b.X, theta[:, T:])[..., None]
    pad = np.full(u.shape[:2] + (1,), np.inf)
    log_pi = log_probability(np.concatenate([u, pad], axis=2), np.concatenate([-pad, u], axis=2))
    log_ref = np.log(ref["pi"]).astype(float)
    assert np.max(np.abs(log_pi - log_ref) / (1 + np.abs(log_ref))) < 4 * EPS
    logp = case_bounds(theta, b)[3]
    log_ref_y = np.take_along_axis(log_ref, b.y[..., None], 2)[..., 0]
    assert np.max(np.abs(logp - log_ref_y) / (1 + np.abs(log_ref_y))) < 4 * EPS
    # on the probability scale, down to the subnormal numbers (whose spacing is 5e-324)
    np.testing.assert_allclose(probabilities(theta, b.X, K), ref["pi"].astype(float), rtol=2e-12, atol=1e-320)
    # the hard part is real: in double, F(u_k) - F(u_{k-1}) is 0 for some categories of the far cases
    F = expit(u)
    naive = np.diff(np.concatenate([np.zeros(u.shape[:2] + (1,)), F, np.ones(u.shape[:2] + (1,))], axis=2), axis=2)
    assert np.any(naive[FAR] == 0) and np.all(ref["pi"][FAR] > 0)


def test_log_likelihood_score_and_hessian_match_the_per_case_formulas(hard):
    K, theta, b, ref = hard
    ll, score, H = loglik(theta, b)
    np.testing.assert_allclose(ll, ref["ll"].astype(float), rtol=4 * EPS)
    D = np.sqrt(np.abs(np.diagonal(ref["hessian"], axis1=1, axis2=2))).astype(float)
    score_error = np.max(np.abs(score - ref["score"]).astype(float) / D, axis=1)
    hessian_error = _scaled(H - ref["hessian"], ref["hessian"]).max(axis=(1, 2))
    gap, near = _gaps(K), [REGULAR, GAP_30, GAP_20, GAP_10]
    assert np.all(score_error[near] < 64 * EPS / gap[near])
    assert np.all(hessian_error[near] < 16 * EPS / gap[near] ** 2)
    # far tails: r s - r^2 cancels in the observed Hessian (error ~ eps x^2 per case; arithmetic as before)
    far = [FAR, FAR_GAP]
    assert np.all(score_error[far] < 1e-9) and np.all(hessian_error[far] < 1e-6 / gap[far])


def test_expected_information_log_det_and_penalty_gradient_match_the_per_case_formulas(hard):
    K, theta, b, ref = hard
    info, logdet, pgrad = information(theta, b, penalty_gradient=True)
    info_ref = ref["info"]
    assert np.all(_scaled(info - info_ref, info_ref).max(axis=(1, 2)) < 16 * EPS / np.sqrt(_gaps(K)))
    d = np.sqrt(np.diagonal(info_ref, axis1=1, axis2=2)).astype(float)
    condition = np.linalg.cond((info_ref / (d[:, :, None] * d[:, None, :])).astype(float))
    assert np.all(np.abs(logdet - ref["logdet"]).astype(float) < 1e-13 + 16 * EPS * condition)
    pgrad_error = np.max(np.abs(pgrad - ref["pgrad"]).astype(float) / d, axis=1)
    assert np.all((pgrad_error < 16 * EPS * condition)[condition < 1e5])
    assert np.all(np.isfinite(pgrad))


def test_penalised_evaluation_shares_its_terms_with_loglik_and_information(hard):
    K, theta, b, _ = hard
    obj, ll, grad, H = evaluate(theta, b, penalty="jeffreys")
    ll0, score, _ = loglik(theta, b, hessian=False)
    info, logdet, pgrad = information(theta, b, penalty_gradient=True)
    np.testing.assert_array_equal(ll, ll0)
    np.testing.assert_allclose(obj, ll0 + 0.5 * logdet, rtol=4 * EPS)
    np.testing.assert_allclose(grad, score + pgrad, rtol=4 * EPS, atol=4 * EPS * np.abs(score).max())
    np.testing.assert_array_equal(H, -info)


def test_jeffreys_estimates_zero_the_reference_penalised_score():
    rng = np.random.default_rng(5)
    R, n, p, K = 4, 40, 3, 4
    X = rng.normal(size=(R, n, p))
    theta = np.concatenate([np.tile([-1.0, 0.0, 1.0], (R, 1)), rng.normal(0, 1, (R, p))], axis=1)
    pi = reference(theta, X, K)[0].astype(float)
    y = (rng.random((R, n, 1)) > np.cumsum(pi, axis=2)).sum(axis=2).clip(0, K - 1)
    w = np.ones((R, n))
    fit = newton(Batch(y, X, w, K, ["a", "b", "c"]), penalty="jeffreys", tol=1e-10)
    assert fit.converged.all()
    ref = reference_fit_terms(fit.theta, X, y, w, K)
    d = np.sqrt(np.diagonal(ref["info"], axis1=1, axis2=2)).astype(float)
    assert np.max(np.abs(ref["score"] + ref["pgrad"]).astype(float) / d) < 1e-9


def test_unordered_or_equal_thresholds_are_infeasible_as_before():
    theta, X, y, w = hard_problems(4)
    theta[0, 1] = theta[0, 0] - 0.5  # reversed
    theta[1, 1] = theta[1, 0]  # equal
    b = Batch(y, X, w, 4, ["a", "b", "c"])
    ll, score, H = loglik(theta, b)
    assert np.all(ll[:2] == -np.inf) and np.all(score[:2] == 0) and np.all(H[:2] == 0) and np.isfinite(ll[2:]).all()
    info, logdet, pgrad = information(theta, b, penalty_gradient=True)
    assert np.all(logdet[:2] == -np.inf) and np.isnan(pgrad[:2]).all() and np.isfinite(pgrad[2:]).all()
    obj, ll_e, grad, H_e = evaluate(theta, b, penalty="jeffreys")
    assert np.all(obj[:2] == -np.inf) and np.isnan(grad[:2]).all() and np.all(H_e[:2] == 0)
    assert np.isfinite(obj[2:]).all()
    with np.errstate(invalid="ignore"):
        logp = log_probability(np.array([1.0, 1.0, np.inf, 0.5]), np.array([2.0, 1.0, 0.0, -np.inf]))
    assert np.isnan(logp[0]) and logp[1] == -np.inf and logp[2] == pytest.approx(np.log(0.5))
    assert logp[3] == pytest.approx(np.log(1 / (1 + np.exp(-0.5))))
    pr = probabilities(theta[:2], X[:2], 4)
    assert np.isnan(pr[0, :, 1]).all() and np.all(pr[1, :, 1] == 0)
