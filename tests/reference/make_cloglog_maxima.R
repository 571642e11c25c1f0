# Reference values, independent of the Python package `upgrading`, for the Jeffreys-penalised cloglog fit of the
# by-group model of functional_upgrading:
#   functional_upgrading ~ C(sectoral_group) + C(sectoral_group):collective_efficiency + C(sectoral_group):leader_driven
# Objective: log-likelihood + 0.5 log det I(theta), I the expected Fisher information of all parameters
# (thresholds and slopes). The objective has more than one local maximum; this script
#   1. builds the design (treatment contrasts, first level of sectoral_group the reference; patsy term names),
#   2. maximises from a fixed, seeded set of starts and records every distinct converged local maximum,
#   3. at the highest maximum, finds both ends of the 95% profile penalised-likelihood interval of every slope,
#      the constrained maximum at each value taken as the best over several starts, and the best-branch statistic
#      of C(sectoral_group)[natural_resource_based]:leader_driven at 0,
#   4. writes the results as JSON (15 significant digits).
# Usage (from the project root): Rscript make_cloglog_maxima.R [sheet.csv] [out.json]
#   sheet.csv defaults to data/raw/coding_sheet_simulated.csv (relative to the working directory, the project root);
#   out.json defaults to tests/reference/jeffreys_cloglog_maxima.json.
suppressPackageStartupMessages(library(jsonlite))
t_start <- Sys.time()
args <- commandArgs(TRUE)
SHEET <- if (length(args) >= 1) args[1] else "data/raw/coding_sheet_simulated.csv"
OUT <- if (length(args) >= 2) args[2] else "tests/reference/jeffreys_cloglog_maxima.json"
LINK <- "cloglog"
FORMULA <- paste("functional_upgrading ~ C(sectoral_group) + C(sectoral_group):collective_efficiency",
                 "+ C(sectoral_group):leader_driven")
# level order of the codebook (src/upgrading/data/codebook.toml [[categories.sectoral_group]]; first = reference)
GROUPS <- c("traditional_manufacturing", "natural_resource_based", "complex_product_systems", "specialised_suppliers")

# ---- 1. data and design -------------------------------------------------------------------------------------
d <- read.csv(SHEET, stringsAsFactors = FALSE)
d <- d[complete.cases(d[, c("functional_upgrading", "sectoral_group", "collective_efficiency", "governance")]), ]
# derived.leader_driven: governance in {quasi_hierarchy, hierarchy}
d$leader_driven <- as.integer(d$governance %in% c("quasi_hierarchy", "hierarchy"))
stopifnot(all(d$sectoral_group %in% GROUPS), all(GROUPS %in% d$sectoral_group))
ind <- sapply(GROUPS, function(g) as.numeric(d$sectoral_group == g)) # n x 4 group indicators
X <- cbind(ind[, -1], ind * d$collective_efficiency, ind * d$leader_driven)
colnames(X) <- c(sprintf("C(sectoral_group)[T.%s]", GROUPS[-1]),
                 sprintf("C(sectoral_group)[%s]:collective_efficiency", GROUPS),
                 sprintf("C(sectoral_group)[%s]:leader_driven", GROUPS))
stopifnot(qr(cbind(1, X))$rank == ncol(X) + 1) # nothing aliased on this sheet
lev <- sort(unique(d$functional_upgrading)) # outcome categories = observed codes in order
y <- match(d$functional_upgrading, lev)
D <- list(X = X, y = y, K = length(lev))
NTH <- D$K - 1
THETA_NAMES <- c(sprintf("%s|%s", lev[-D$K], lev[-1]), colnames(X))

# ---- the penalised log-likelihood and its analytic gradient ------------------------------------------------
# the cloglog link: F (cdf), S = 1 - F (upper tail, for probabilities accurate in both tails), density f and f'
L <- list(F = function(x) -expm1(-exp(x)), S = function(x) exp(-exp(x)),
          f = function(x) exp(x - exp(x)), f1 = function(x) exp(x - exp(x)) * -expm1(x))

# theta = (alpha_1..alpha_{K-1}, beta); P(y <= k) = F(alpha_k - x'beta). Returns the penalised log-likelihood and,
# if asked, its gradient: d pi_ik = f(A_ik) z_ik - f(A_i,k-1) z_i,k-1 with z_ib = (e_b, -x_i), the gradient of
# 0.5 log det I is 0.5 sum_ik [2 (H_ik M G_ik) / pi_ik - (G_ik' M G_ik) G_ik / pi_ik^2], M = I^-1, H_ik the
# Hessian of pi_ik. The observed categories' log-probabilities and their derivatives are computed in a form that does not underflow (far from the maximum, e.g. from the logit fit as a start, S(x) = exp(-e^x) is 0
# in double precision where its log, -e^x, is not).
evaluate <- function(theta, D, gradient = FALSE) {
  bad <- list(value = -Inf, grad = rep(NA_real_, length(theta)))
  K <- D$K; n <- nrow(D$X); p <- length(theta); y <- D$y
  if (any(!is.finite(theta)) || any(diff(theta[1:(K - 1)]) <= 0)) return(bad)
  eta <- drop(D$X %*% theta[-(1:(K - 1))])
  A <- cbind(-Inf, outer(-eta, theta[1:(K - 1)], "+"), Inf) # column b + 1 is boundary b = 0..K
  fin <- is.finite(A)
  f <- ifelse(fin, L$f(A), 0)
  f1 <- ifelse(fin & f > 0, L$f1(A), 0)
  lower <- L$F(A)[, -1] - L$F(A)[, -(K + 1)]
  upper <- L$S(A)[, -(K + 1)] - L$S(A)[, -1]
  mid <- (ifelse(fin[, -1], A[, -1], 0) + ifelse(fin[, -(K + 1)], A[, -(K + 1)], 0)) / 2
  P <- ifelse(mid > 0, upper, lower) # n x K category probabilities
  ip <- ifelse(P > 0, 1 / P, 0) # a probability that underflows adds nothing to I
  # observed category y: log P and d log P = cU z_{i,y} - cL z_{i,y-1}
  a <- A[cbind(1:n, y)]; b <- A[cbind(1:n, y + 1)]
  ea <- exp(a) # S(a) - S(b) = exp(-e^a) (1 - exp(-(e^b - e^a)))
  dd <- ifelse(is.finite(b), exp(b) - ea, Inf)
  om <- -expm1(-dd)
  logp <- -ea + log(om)
  cU <- ifelse(is.finite(b), exp(b - dd) / om, 0)
  cL <- ea / om
  Z <- lapply(1:(K - 1), function(b) { z <- cbind(matrix(0, n, K - 1), -D$X); z[, b] <- 1; z })
  G <- lapply(1:K, function(k) { # d pi_ik / d theta, n x p
    g <- matrix(0, n, p)
    if (k <= K - 1) g <- g + f[, k + 1] * Z[[k]]
    if (k >= 2) g <- g - f[, k] * Z[[k - 1]]
    g
  })
  I <- Reduce(`+`, lapply(1:K, function(k) crossprod(G[[k]] * sqrt(ip[, k]))))
  ld <- determinant(I, logarithm = TRUE)
  if (ld$sign <= 0) return(bad)
  value <- sum(logp) + 0.5 * as.numeric(ld$modulus)
  if (!is.finite(value)) return(bad)
  if (!gradient) return(list(value = value))
  M <- tryCatch(solve(I), error = function(e) NULL)
  if (is.null(M)) return(bad)
  g <- c(sapply(1:(K - 1), function(k) sum(cU[y == k]) - sum(cL[y == k + 1])), -colSums((cU - cL) * D$X))
  for (k in 1:K) { # penalty, scaled by 1/pi_ik before the products so that nothing overflows
    Gp <- G[[k]] * ip[, k]
    MGp <- Gp %*% M
    HMGp <- matrix(0, n, p)
    if (k <= K - 1) HMGp <- HMGp + (f1[, k + 1] * rowSums(Z[[k]] * MGp)) * Z[[k]]
    if (k >= 2) HMGp <- HMGp - (f1[, k] * rowSums(Z[[k - 1]] * MGp)) * Z[[k - 1]]
    g <- g + 0.5 * colSums(2 * HMGp - G[[k]] * rowSums(Gp * MGp))
  }
  list(value = value, grad = g)
}
pen_loglik <- function(theta) evaluate(theta, D)$value
pen_grad <- function(theta) evaluate(theta, D, gradient = TRUE)$grad

# Hessian by central differences of the analytic gradient
fd_hessian <- function(gfun, z, h = 1e-5) {
  H <- sapply(seq_along(z), function(r) { e <- replace(numeric(length(z)), r, h); (gfun(z + e) - gfun(z - e)) / (2 * h) })
  (H + t(H)) / 2
}

# ---- maximisation -------------------------------------------------------------------------------------------
# BFGS in (alpha_1, log gaps, free slopes), so the thresholds stay ordered, then Newton steps (line search, only
# while the Hessian is negative definite) in the natural parameters to |gradient| < tol.
# fixed: list(index, value), one slope held at a value (a profile); thresholds are always free.
maximise <- function(theta0, fixed = NULL, tol = 1e-9) {
  p <- length(theta0)
  free <- setdiff(1:p, fixed$index)
  sfree <- free[free > NTH]
  full <- function(z) { th <- theta0; th[free] <- z; if (!is.null(fixed)) th[fixed$index] <- fixed$value; th }
  to_theta <- function(u) full(c(cumsum(c(u[1], exp(u[2:NTH]))), u[-(1:NTH)]))
  fn <- function(u) { v <- pen_loglik(to_theta(u)); if (is.finite(v)) -v else 1e10 }
  gr <- function(u) {
    g <- pen_grad(to_theta(u))
    if (any(!is.finite(g))) return(rep(0, length(u)))
    ga <- g[1:NTH]
    -c(sum(ga), exp(u[2:NTH]) * rev(cumsum(rev(ga)))[2:NTH], g[sfree])
  }
  if (!is.null(fixed)) theta0[fixed$index] <- fixed$value
  if (any(diff(theta0[1:NTH]) <= 0)) theta0[1:NTH] <- sort(theta0[1:NTH]) + (0:(NTH - 1)) * 1e-3
  u0 <- c(theta0[1], log(diff(theta0[1:NTH])), theta0[sfree])
  o <- optim(u0, fn, gr, method = "BFGS", control = list(maxit = 5000, reltol = 1e-15))
  z <- to_theta(o$par)[free]
  f_z <- function(z) pen_loglik(full(z))
  g_z <- function(z) pen_grad(full(z))[free]
  for (it in 1:50) {
    g <- g_z(z)
    if (any(!is.finite(g)) || max(abs(g)) < tol) break
    R <- tryCatch(chol(-fd_hessian(g_z, z)), error = function(e) NULL)
    if (is.null(R)) break
    step <- backsolve(R, forwardsolve(t(R), g))
    f0 <- f_z(z); s <- 1
    while (s > 1e-10 && !(is.finite(f1 <- f_z(z + s * step)) && f1 >= f0 - 1e-13)) s <- s / 2
    if (s <= 1e-10) break
    z <- z + s * step
  }
  g <- g_z(z)
  list(theta = full(z), value = f_z(z), grad = if (all(is.finite(g))) max(abs(g)) else Inf,
       z = z, g_z = g_z)
}

# ---- 2. local maxima from a fixed, seeded set of starts ----------------------------------------------------
cum <- cumsum(tabulate(D$y, D$K))[-D$K] / length(D$y)
default_start <- c(log(-log1p(-cum)), rep(0, ncol(X))) # cloglog quantiles of the cumulative shares, slopes 0
set.seed(20240607)
N_STARTS <- 24
starts <- list(default = default_start)
for (s in 1:(N_STARTS - 1)) # seeded perturbations of the default start's slopes, sd 0.5, 1, 2
  starts[[sprintf("perturbed_%02d", s)]] <- c(default_start[1:NTH], rnorm(ncol(X), 0, c(0.5, 1, 2)[1 + s %% 3]))
fits <- lapply(starts, function(st) tryCatch(maximise(st), error = function(e) NULL))
converged <- function(m) !is.null(m) && is.finite(m$value) && m$grad < 1e-6
maxima <- list()
for (nm in names(fits)) {
  m <- fits[[nm]]
  if (!converged(m)) next
  same <- which(vapply(maxima, function(x) abs(x$value - m$value) < 1e-7 && max(abs(x$theta - m$theta)) < 1e-4, TRUE))
  if (length(same)) { maxima[[same]]$starts <- c(maxima[[same]]$starts, nm); next }
  ev <- eigen(fd_hessian(m$g_z, m$z), symmetric = TRUE, only.values = TRUE)$values
  maxima[[length(maxima) + 1]] <- list(value = m$value, theta = m$theta, grad = m$grad,
                                       max_hessian_eigenvalue = max(ev), starts = nm)
}
maxima <- maxima[order(-vapply(maxima, `[[`, 0, "value"))]
glob <- Filter(function(x) x$max_hessian_eigenvalue < 0, maxima)[[1]] # the highest (strict) local maximum
cat(sprintf("local maxima: %s\n", paste(sprintf("%.8f (%d starts)", vapply(maxima, `[[`, 0, "value"),
                                                 vapply(maxima, function(x) length(x$starts), 0L)), collapse = ", ")))
# check of the analytic gradient against central differences of the objective, at the highest maximum
num_grad <- sapply(seq_along(glob$theta), function(r) {
  e <- replace(numeric(length(glob$theta)), r, 1e-5)
  (pen_loglik(glob$theta + e) - pen_loglik(glob$theta - e)) / 2e-5
})
grad_check <- max(abs(num_grad - pen_grad(glob$theta)))
se <- sqrt(diag(solve(-fd_hessian(function(th) pen_grad(th), glob$theta))))

# ---- 3. profile penalised-likelihood intervals at the highest maximum ---------------------------------------
CUT <- qchisq(0.95, 1)
others <- lapply(Filter(function(x) x$value < glob$value, maxima), `[[`, "theta")
several <- setNames(numeric(length(THETA_NAMES)), THETA_NAMES) # values v at which the starts reached different maxima
higher_found <- 0 # constrained maxima above the highest maximum (would mean it is not the global one)
# The constrained maximum at v from one start `base`: the slope set to v, or, where the penalty cannot be evaluated
# there in double precision (the information underflows far out), walked from base's own value to v in 4, then 16,
# steps, each maximised from the last.
from_start <- function(base, j, v) {
  fixed_max <- function(th, vv) tryCatch(maximise(replace(th, j, vv), fixed = list(index = j, value = vv), tol = 1e-8),
                                         error = function(e) NULL)
  if (is.finite(pen_loglik(replace(base, j, v)))) return(fixed_max(base, v))
  if (!is.finite(pen_loglik(base))) return(NULL)
  for (steps in c(4, 16)) {
    th <- base; m <- NULL
    for (vv in seq(base[j], v, length.out = steps + 1)[-1]) {
      m <- if (is.finite(pen_loglik(replace(th, j, vv)))) fixed_max(th, vv)
      if (is.null(m) || !is.finite(m$value)) break
      th <- m$theta
    }
    if (!is.null(m) && is.finite(m$value)) return(m)
  }
  NULL
}
# The constrained maximum at v: the best over the starts: the continuation from the nearest value already evaluated
# (cache), the highest maximum and every other local maximum, and 3 seeded perturbations of the highest maximum's
# slopes (the same perturbations at every v of a term).
constrained <- function(j, v, cache, perturb) {
  st <- c(list(glob$theta), others, lapply(perturb, function(dz) glob$theta + dz))
  if (length(cache)) st <- c(list(cache[[which.min(abs(vapply(cache, `[[`, 0, "v") - v))]]$theta), st)
  best <- NULL; found <- c()
  for (s in st) {
    m <- from_start(s, j, v)
    if (is.null(m) || !is.finite(m$value) || m$grad >= 1e-5) next
    found <- c(found, m$value)
    if (is.null(best) || m$value > best$value) best <- m
  }
  if (length(found) && max(found) - min(found) > 1e-6) several[THETA_NAMES[j]] <<- several[THETA_NAMES[j]] + 1
  if (is.null(best)) stop(sprintf("no start converged for %s at %g", THETA_NAMES[j], v))
  if (best$value > glob$value + 1e-9) higher_found <<- higher_found + 1
  list(v = v, theta = best$theta, value = best$value, lr = 2 * (glob$value - best$value))
}
profile_end <- function(j, side, perturb) {
  cache <- list()
  f <- function(v) {
    r <- constrained(j, v, cache, perturb)
    cache[[length(cache) + 1]] <<- r
    r$lr - CUT
  }
  est <- glob$theta[j]; step <- se[j] / 2
  lo <- est; hi <- est + side * step; tries <- 0
  while (f(hi) < 0) { # step outwards with continuation
    lo <- hi; hi <- hi + side * step; tries <- tries + 1
    if (tries > 60) return(side * Inf)
  }
  uniroot(f, sort(c(lo, hi)), tol = 1e-7)$root
}
slopes <- (NTH + 1):length(glob$theta)
profile <- list()
nr_ld <- which(THETA_NAMES == "C(sectoral_group)[natural_resource_based]:leader_driven")
set.seed(20240608)
perturbs <- lapply(slopes, function(j) lapply(c(0.5, 1, 2), function(sd) c(rep(0, NTH), rnorm(length(slopes), 0, sd))))
names(perturbs) <- THETA_NAMES[slopes]
for (j in slopes) {
  ends <- c(profile_end(j, -1, perturbs[[THETA_NAMES[j]]]), profile_end(j, 1, perturbs[[THETA_NAMES[j]]]))
  profile[[THETA_NAMES[j]]] <- list(estimate = glob$theta[j], conf_low = ends[1], conf_high = ends[2],
                                    values_with_several_constrained_maxima = several[[THETA_NAMES[j]]])
  cat(sprintf("%-68s %10.6f [%10.6f, %10.6f]\n", THETA_NAMES[j], glob$theta[j], ends[1], ends[2]))
}
# the best-branch statistic of natural_resource_based:leader_driven at 0 (continuation from the profile's lower end)
low_nr <- profile[[THETA_NAMES[nr_ld]]]$conf_low
at0 <- constrained(nr_ld, 0, list(constrained(nr_ld, low_nr, list(), perturbs[[THETA_NAMES[nr_ld]]])),
                   perturbs[[THETA_NAMES[nr_ld]]])
stat0 <- sign(glob$theta[nr_ld]) * sqrt(max(0, at0$lr))

# ---- 4. JSON --------------------------------------------------------------------------------------------------
named <- function(th) as.list(setNames(th, THETA_NAMES))
out <- list(
  description = paste("Independent R reference (no Python package code) for the Jeffreys-penalised cloglog fit of",
                      "the by-group functional_upgrading model: its local maxima, the highest maximum's estimates, the",
                      "95% profile penalised-likelihood interval ends of every slope (best constrained maximum over",
                      "several starts at each value) and the best-branch statistic of",
                      "natural_resource_based:leader_driven at 0."),
  software = list(R = R.version.string, jsonlite = as.character(packageVersion("jsonlite"))),
  sheet = SHEET, n = nrow(d), formula = FORMULA, link = LINK,
  contrasts = "treatment; reference sectoral_group traditional_manufacturing; P(y <= k) = F(theta_k - x'beta)",
  penalty = "0.5 log det expected information (all parameters)",
  starts = list(n = length(starts), seed = 20240607,
                which = "default (thresholds at the cloglog quantiles of the cumulative shares, slopes 0) and 23 perturbations of its slopes (N(0, sd), sd 0.5/1/2 in turn)",
                not_converged = sum(!vapply(fits, converged, TRUE))),
  local_maxima = lapply(maxima, function(m) list(objective = m$value, max_abs_gradient = m$grad,
                                                 max_hessian_eigenvalue = m$max_hessian_eigenvalue,
                                                 hessian_negative_definite = m$max_hessian_eigenvalue < 0,
                                                 n_starts = length(m$starts), theta = named(m$theta))),
  global_maximum = list(objective = glob$value, estimates = named(glob$theta), std_error_observed = named(se),
                        max_abs_gradient = glob$grad, gradient_check_vs_central_differences = grad_check),
  profile = list(level = 0.95, cutoff = CUT, uniroot_tol = 1e-7,
                 constrained_starts = "continuation from the nearest evaluated value, each local maximum with the slope set to v, 3 seeded perturbations (sd 0.5/1/2) of the highest maximum",
                 constrained_maxima_above_the_highest = higher_found, ends = profile),
  natural_resource_based_leader_driven_at_0 = list(
    term = THETA_NAMES[nr_ld], constrained_objective = at0$value, penalised_lr = at0$lr, signed_root = stat0,
    p_value = 2 * pnorm(-abs(stat0))),
  # the objective at two points that are not maxima, for checking an implementation
  objective_checkpoints = list(
    default_start = list(theta = named(default_start), objective = pen_loglik(default_start)),
    midpoint_of_two_highest_maxima = list(theta = named((maxima[[1]]$theta + maxima[[2]]$theta) / 2),
                                          objective = pen_loglik((maxima[[1]]$theta + maxima[[2]]$theta) / 2)))
)  # no run time in the file: it would change the reference from one run to the next
write(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE), OUT)
cat("wrote", OUT, sprintf("(%.0f s)\n", as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
