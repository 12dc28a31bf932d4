# Reference values for random-effects (mixed) models: linear mixed models by maximum
# likelihood, binomial and Poisson GLMMs by the Laplace approximation and by adaptive
# Gauss-Hermite quadrature, from lme4 and glmmTMB. Run from the repository root:
#   Rscript tests/references/random_effects.R            # the cases
#   Rscript tests/references/random_effects.R --timing   # the cases and the timing section
# The first writes tests/references/random_effects.json (data, values, optimizer settings
# and messages, the R and package versions). --timing also simulates binomial
# random-intercept GLMMs with 100, 1,000 and 10,000 groups, times glmer (nAGQ = 1) and
# glmmTMB on them and writes tests/references/random_effects_sim.json (the generator, the
# data of the 100- and 1,000-group sets, the estimates and the times). Needs R with the
# lme4 and glmmTMB packages (Debian: r-cran-lme4, r-cran-glmmtmb).
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
})

timing <- "--timing" %in% commandArgs(trailingOnly = TRUE)

# -- a small JSON writer (that of inference_conventions.R, extended with strings, logicals,
#    nulls, and arrays of length 0 or 1) ---------------------------------------------------
# Numbers: the shortest of %.15g and %.17g that reads back to the same double.
fmt <- function(x) {
  x <- as.numeric(x)
  s <- sprintf("%.15g", x)
  bad <- !is.finite(x) | as.numeric(s) != x
  s[bad] <- sprintf("%.17g", x[bad])
  s[!is.finite(x)] <- "null"
  s
}
str1 <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  s <- gsub("\t", " ", s)
  paste0("\"", s, "\"")
}
arr <- function(x) structure(list(x), class = "jarr")  # always an array, even of length 1
json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (inherits(x, "jarr")) {
    x <- x[[1]]
    if (length(x) == 0) return("[]")
    if (is.character(x)) return(paste0("[", paste(str1(x), collapse = ", "), "]"))
    if (is.logical(x)) return(paste0("[", paste(tolower(as.character(x)), collapse = ", "), "]"))
    return(paste0("[", paste(fmt(x), collapse = ", "), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x) && is.null(names(x))) {
    if (length(x) == 0) return("[]")
    parts <- vapply(x, function(e) paste0(inner, json(e, inner)), "")
    return(paste0("[\n", paste(parts, collapse = ",\n"), "\n", indent, "]"))
  }
  if (is.list(x)) {
    keys <- names(x)
    parts <- vapply(seq_along(x), function(i) {
      paste0(inner, "\"", keys[i], "\": ", json(x[[i]], inner))
    }, "")
    return(paste0("{\n", paste(parts, collapse = ",\n"), "\n", indent, "}"))
  }
  if (is.matrix(x)) {
    rows <- vapply(seq_len(nrow(x)), function(i) json(arr(x[i, ])), "")
    return(paste0("[", paste(rows, collapse = ", "), "]"))
  }
  if (length(x) == 1 && !is.character(x) && !is.logical(x)) return(fmt(x))
  if (length(x) == 1 && is.character(x)) return(str1(x))
  if (length(x) == 1 && is.logical(x)) return(if (is.na(x)) "null" else tolower(x))
  json(arr(x))
}
unname_m <- function(m) {
  m <- as.matrix(m)
  dimnames(m) <- NULL
  m
}

# -- settings --------------------------------------------------------------------------------
lmer_ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10))
glmer_ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10))
tmb_ctrl <- glmmTMBControl()  # the defaults: nlminb, iter.max = 300, eval.max = 400

out <- list()
out$provenance <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  glmmTMB = as.character(packageVersion("glmmTMB")),
  TMB = as.character(packageVersion("TMB")),
  Matrix = as.character(packageVersion("Matrix")),
  script = "tests/references/random_effects.R",
  command = "Rscript tests/references/random_effects.R --timing"
)
out$conventions <- list(
  group_index = "0-based index into group_levels; the rows of every random-effect array follow group_levels",
  loglik = paste(
    "logLik(fit) as a number. For lmer, glmer with nAGQ = 1 and glmmTMB it has all constants",
    "of the response density: the Gaussian -n/2 log(2 pi), the binomial log choose(size,",
    "incidence), the Poisson -log(y!). glmer with nAGQ > 1 does not: its logLik is the",
    "log marginal likelihood minus the saturated model's log-likelihood",
    "sum(dbinom(y, size, y / size, log = TRUE)) (lme4 issue 161); binomial_agq25 stores that",
    "sum as saturated_loglik and the sum of the two as loglik_with_constants"
  ),
  laplace_lme4 = paste(
    "glmer's Laplace logLik and postVar at its own estimates differ slightly from the Laplace",
    "approximation evaluated afresh at those estimates, through the log-determinant term",
    "(devcomp$cmp['ldL2']); the conditional modes agree (compare lme4 issue 289). glmmTMB's",
    "logLik and conditional SDs agree with that evaluation to rounding, so the two tools'",
    "Laplace estimates differ slightly; tests/test_random_effects_references.py measures both"
  ),
  deviance_lme4 = paste(
    "deviance(fit): for lmer by ML it is -2 logLik; for glmer it is",
    "sum(residuals(fit, type = 'deviance')^2), the conditional deviance at the modes,",
    "relative to the saturated model and without the penalty or the log-determinant"
  ),
  deviance_glmmTMB = "deviance() returns NULL for glmmTMB fits in this version; minus2loglik is stored instead",
  lme4_theta = paste(
    "getME(fit, 'theta'): the lower-triangular relative Cholesky factor of the random-effect",
    "covariance, column by column; for lmer relative to the residual SD sigma, for glmer absolute"
  ),
  glmmTMB_internal = paste(
    "vcov(fit, full = TRUE) and fit$fit$par use glmmTMB's internal scale: the fixed effects;",
    "d~(Intercept) = betad = log(sigma^2) for the Gaussian family in this version (stored",
    "log_sigma2_check = log(sigma(fit)^2) beside it); theta_<term>.1 .. .q = log SDs of the q",
    "effects of a term; then, for an unstructured (us) term, q(q - 1)/2 correlation",
    "parameters: with L the unit lower-triangular matrix holding them column by column below",
    "its diagonal, the correlation matrix is D^(-1/2) L L' D^(-1/2), D = diag(L L'); for",
    "q = 2 with the single parameter t, rho = t / sqrt(1 + t^2) (rho_from_theta_check stores",
    "that value next to VarCorr's correlation)"
  ),
  ranef_condvar = paste(
    "lme4 ranef_condsd: sqrt of attr(ranef(fit, condVar = TRUE)[[1]], 'postVar'), the",
    "conditional variance of the random effects given the estimates (for glmer, from the",
    "Hessian at the conditional modes). glmmTMB ranef_condsd, from ranef(fit, condVar = TRUE),",
    "and sdr_random_se, from summary(fit$sdr,",
    "'random') are the same numbers: TMB's sdreport prediction SEs, which add the uncertainty of",
    "the estimated fixed and variance parameters and so are larger. glmmTMB cond_sd_given_par:",
    "sqrt of the diagonal of the inverse Hessian of the negative joint log-likelihood in the",
    "random effects at the estimates (fit$obj$env$spHess(random = TRUE)), the quantity that",
    "corresponds to lme4's postVar. For terms with two effects the rows are groups and the",
    "columns the effects; lme4 also gives each group's 2 x 2 conditional covariance"
  ),
  sdr_random_order = "summary(fit$sdr, 'random') rows are group-major: group 1 effect 1, group 1 effect 2, group 2 effect 1, ...",
  settings = list(
    lmer = "lmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5, rhoend = 1e-10)), REML = FALSE",
    glmer = "glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5, rhoend = 1e-10)) (both stages)",
    glmmTMB = "glmmTMBControl() defaults: nlminb with iter.max = 300, eval.max = 400; REML = FALSE"
  )
)

# -- helpers --------------------------------------------------------------------------------
group_data <- function(f) {
  f <- factor(f)
  list(group = as.integer(f) - 1L, n_groups = nlevels(f), group_levels = arr(levels(f)))
}

lme4_block <- function(fit) {
  vc <- VarCorr(fit)[[1]]
  re <- ranef(fit, condVar = TRUE)[[1]]
  pv <- attr(re, "postVar")  # q x q x n_groups
  q <- dim(pv)[1]
  sds <- matrix(apply(pv, 3, function(m) sqrt(diag(as.matrix(m)))), ncol = q, byrow = TRUE)
  oi <- fit@optinfo
  b <- list(
    fixef_names = arr(names(fixef(fit))),
    fixef = arr(unname(fixef(fit))),
    fixef_se = arr(unname(sqrt(diag(as.matrix(vcov(fit)))))),
    vcov_fixef = unname_m(vcov(fit)),
    re_names = arr(colnames(re)),
    re_sd = arr(unname(attr(vc, "stddev"))),
    re_corr = unname_m(attr(vc, "correlation")),
    theta = arr(unname(getME(fit, "theta")))
  )
  if (isLMM(fit)) b$sigma <- sigma(fit)
  b$loglik <- as.numeric(logLik(fit))
  b$df <- attr(logLik(fit), "df")
  b$deviance <- deviance(fit)
  b$minus2loglik <- -2 * as.numeric(logLik(fit))
  b$ranef <- unname_m(re)
  b$ranef_condsd <- unname_m(sds)
  if (q > 1) {
    b$ranef_condvar <- lapply(seq_len(dim(pv)[3]), function(i) unname_m(pv[, , i]))
  }
  b$optimizer <- list(
    optimizer = oi$optimizer,
    control = lapply(oi$control, function(v) v),
    nAGQ = if (isGLMM(fit)) fit@devcomp$dims[["nAGQ"]] else NULL,
    conv_opt = oi$conv$opt,
    lme4_messages = arr(as.character(unlist(oi$conv$lme4$messages))),
    optimizer_message = if (is.null(oi$message)) "" else as.character(oi$message),
    warnings = arr(as.character(unlist(oi$warnings))),
    feval = oi$feval,
    derivs_gradient = if (is.null(oi$derivs)) NULL else arr(oi$derivs$gradient)
  )
  b
}

tmb_block <- function(fit) {
  vc <- VarCorr(fit)$cond[[1]]
  re <- ranef(fit, condVar = TRUE)$cond[[1]]
  cv <- attr(re, "condVar")
  q <- ncol(re)
  cvsd <- if (length(dim(cv)) == 3) {
    matrix(apply(cv, 3, function(m) sqrt(diag(as.matrix(m)))), ncol = q, byrow = TRUE)
  } else matrix(sqrt(cv), ncol = q)
  env <- fit$obj$env
  H <- env$spHess(env$last.par.best, random = TRUE)
  cond_sd <- matrix(sqrt(diag(solve(as.matrix(H)))), ncol = q, byrow = TRUE)
  V <- vcov(fit, full = TRUE)
  sr <- summary(fit$sdr, "random")
  par <- fit$fit$par
  b <- list(
    fixef_names = arr(names(fixef(fit)$cond)),
    fixef = arr(unname(fixef(fit)$cond)),
    fixef_se = arr(unname(sqrt(diag(vcov(fit)$cond)))),
    re_names = arr(colnames(re)),
    re_sd = arr(unname(attr(vc, "stddev"))),
    re_corr = unname_m(attr(vc, "correlation"))
  )
  if (family(fit)$family == "gaussian") {
    b$sigma <- sigma(fit)
    b$log_sigma2_check <- log(sigma(fit)^2)
  }
  if (q == 2) b$rho_from_theta_check <- unname(par[names(par) == "theta"][3] /
    sqrt(1 + par[names(par) == "theta"][3]^2))
  b$loglik <- as.numeric(logLik(fit))
  b$df <- attr(logLik(fit), "df")
  b$minus2loglik <- -2 * as.numeric(logLik(fit))
  b$par_names <- arr(names(par))
  b$par <- arr(unname(par))
  b$vcov_full_names <- arr(rownames(V))
  b$vcov_full <- unname_m(V)
  b$ranef <- unname_m(re)
  b$ranef_condsd <- unname_m(cvsd)
  b$sdr_random_estimate <- arr(unname(sr[, 1]))
  b$sdr_random_se <- arr(unname(sr[, 2]))
  b$cond_sd_given_par <- unname_m(cond_sd)
  b$optimizer <- list(
    optimizer = "nlminb",
    control = tmb_ctrl$optCtrl,
    convergence = fit$fit$convergence,
    message = fit$fit$message,
    iterations = fit$fit$iterations,
    evaluations = arr(unname(fit$fit$evaluations)),
    pdHess = fit$sdr$pdHess,
    max_abs_gradient = max(abs(fit$sdr$gradient.fixed))
  )
  b
}

sleep <- sleepstudy
sleep_data <- function(fit) {
  c(list(y = arr(sleep$Reaction), X = unname_m(getME(fit, "X")),
         X_columns = arr(colnames(getME(fit, "X")))),
    group_data(sleep$Subject))
}

# -- (a) LMM by ML, random intercept: sleepstudy --------------------------------------------
fa <- lmer(Reaction ~ Days + (1 | Subject), sleep, REML = FALSE, control = lmer_ctrl)
ta <- glmmTMB(Reaction ~ Days + (1 | Subject), sleep, REML = FALSE, control = tmb_ctrl)
out$lmm_intercept <- list(
  model = "Reaction ~ Days + (1 | Subject), Gaussian, ML (REML = FALSE), lme4::sleepstudy",
  data = sleep_data(fa),
  lme4 = lme4_block(fa),
  glmmTMB = tmb_block(ta)
)

# -- (b) LMM by ML, correlated random intercept and slope -----------------------------------
fb <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE, control = lmer_ctrl)
tb <- glmmTMB(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE, control = tmb_ctrl)
out$lmm_slope <- list(
  model = "Reaction ~ Days + (Days | Subject), Gaussian, ML (REML = FALSE), lme4::sleepstudy",
  data = c(sleep_data(fb), list(Z_columns = arr(c("(Intercept)", "Days")))),
  lme4 = lme4_block(fb),
  glmmTMB = tmb_block(tb)
)

# -- (c) binomial GLMM, random intercept, Laplace: cbpp -------------------------------------
cb <- cbpp
fc <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb, family = binomial,
            nAGQ = 1, control = glmer_ctrl)
tc <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), cb,
              family = binomial, control = tmb_ctrl)
cbpp_data <- c(list(y = arr(cb$incidence), trials = arr(cb$size),
                    X = unname_m(getME(fc, "X")), X_columns = arr(colnames(getME(fc, "X")))),
               group_data(cb$herd))
out$binomial_laplace <- list(
  model = "cbind(incidence, size - incidence) ~ period + (1 | herd), binomial logit, Laplace (nAGQ = 1), lme4::cbpp",
  data = cbpp_data,
  lme4 = lme4_block(fc),
  glmmTMB = tmb_block(tc)
)

# -- (d) the same by adaptive Gauss-Hermite quadrature, 25 nodes (lme4 only) ---------------
fd <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb, family = binomial,
            nAGQ = 25, control = glmer_ctrl)
out$binomial_agq25 <- list(
  model = "cbind(incidence, size - incidence) ~ period + (1 | herd), binomial logit, adaptive Gauss-Hermite nAGQ = 25, lme4::cbpp (data as in binomial_laplace)",
  data = cbpp_data,
  lme4 = lme4_block(fd)
)
out$binomial_agq25$lme4$saturated_loglik <- sum(dbinom(cb$incidence, cb$size,
                                                       cb$incidence / cb$size, log = TRUE))
out$binomial_agq25$lme4$loglik_with_constants <- out$binomial_agq25$lme4$loglik +
  out$binomial_agq25$lme4$saturated_loglik

# -- (e) Poisson GLMM, random intercept, Laplace: grouseticks -------------------------------
gt <- grouseticks
gt$sHEIGHT <- as.numeric(scale(gt$HEIGHT))
fe <- glmer(TICKS ~ YEAR + sHEIGHT + (1 | BROOD), gt, family = poisson, nAGQ = 1,
            control = glmer_ctrl)
te <- glmmTMB(TICKS ~ YEAR + sHEIGHT + (1 | BROOD), gt, family = poisson, control = tmb_ctrl)
out$poisson_laplace <- list(
  model = "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD), Poisson log, Laplace (nAGQ = 1), lme4::grouseticks; sHEIGHT = scale(HEIGHT) computed once",
  data = c(list(y = arr(gt$TICKS), X = unname_m(getME(fe, "X")),
                X_columns = arr(colnames(getME(fe, "X"))),
                height_mean = mean(gt$HEIGHT), height_sd = sd(gt$HEIGHT)),
           group_data(gt$BROOD)),
  lme4 = lme4_block(fe),
  glmmTMB = tmb_block(te)
)
out$timing <- "with --timing: tests/references/random_effects_sim.json"

writeLines(json(out), "tests/references/random_effects.json")

if (!timing) quit(save = "no")

# -- timing: simulated binomial random-intercept GLMMs ------------------------------------
# Per size G: set.seed(seed); x <- round(rnorm(G * m), 6); u <- rnorm(G, 0, 0.8);
# y <- as.integer(runif(G * m) < plogis(-0.5 + x + u[g])), g = rep(1:G, each = m), m = 20.
sim_seed <- 20261207
sim_m <- 20
simulate <- function(G) {
  set.seed(sim_seed)
  x <- round(rnorm(G * sim_m), 6)
  u <- rnorm(G, 0, 0.8)
  g <- rep(seq_len(G), each = sim_m)
  y <- as.integer(runif(G * sim_m) < plogis(-0.5 + 1 * x + u[g]))
  data.frame(y = y, x = x, g = factor(g), u = u[g])
}
# elapsed (wall-clock) and CPU (user + system, this process) seconds
timed <- function(expr) {
  st <- system.time(expr)
  round(c(st[["elapsed"]], st[["user.self"]] + st[["sys.self"]]), 3)
}
sim <- list()
sim$provenance <- out$provenance
sim$generator <- list(
  description = paste(
    "For each number of groups G separately: set.seed(seed) (R's default Mersenne-Twister,",
    "Inversion normals, Rejection sampling); x = round(rnorm(G * m), 6); u = rnorm(G, 0, sd_u);",
    "g = rep(1:G, each = m); y = as.integer(runif(G * m) < plogis(intercept + slope * x + u[g])).",
    "The 100- and 1,000-group sets are stored below; the 10,000-group set needs R to regenerate."
  ),
  seed = sim_seed, per_group = sim_m, intercept = -0.5, slope = 1, sd_u = 0.8,
  model = "y ~ x + (1 | g), binomial logit, Bernoulli responses"
)
sim$machine <- list(
  cpu = tryCatch(trimws(sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"),
                                               value = TRUE)[1])), error = function(e) ""),
  cores_online = parallel::detectCores(),
  note = "a shared machine with 2 cores, busy with other work (see loadavg); *_seconds: elapsed (wall-clock), *_cpu_seconds: user + system CPU of this R process, from system.time",
  loadavg_before = tryCatch(readLines("/proc/loadavg"), error = function(e) "")
)
sim$settings <- list(glmer = out$conventions$settings$glmer, glmmTMB = out$conventions$settings$glmmTMB,
                     repeats = "median of 3 runs for 100 and 1,000 groups, 1 run for 10,000; each glmer run is followed by a glmmTMB run on the same data")
sim$cases <- list()
for (G in c(100, 1000, 10000)) {
  d <- simulate(G)
  reps <- if (G < 10000) 3 else 1
  t_lme4 <- t_tmb <- matrix(0, reps, 2)
  for (r in seq_len(reps)) {
    t_lme4[r, ] <- timed(fg <- glmer(y ~ x + (1 | g), d, family = binomial, nAGQ = 1,
                                     control = glmer_ctrl))
    t_tmb[r, ] <- timed(ft <- glmmTMB(y ~ x + (1 | g), d, family = binomial,
                                      control = tmb_ctrl))
  }
  case <- list(
    n_groups = G, n_obs = nrow(d),
    glmer_seconds = median(t_lme4[, 1]), glmer_seconds_all = arr(t_lme4[, 1]),
    glmer_cpu_seconds = median(t_lme4[, 2]), glmer_cpu_seconds_all = arr(t_lme4[, 2]),
    glmmTMB_seconds = median(t_tmb[, 1]), glmmTMB_seconds_all = arr(t_tmb[, 1]),
    glmmTMB_cpu_seconds = median(t_tmb[, 2]), glmmTMB_cpu_seconds_all = arr(t_tmb[, 2]),
    lme4 = list(fixef = arr(unname(fixef(fg))), fixef_se = arr(unname(sqrt(diag(as.matrix(vcov(fg)))))),
                re_sd = unname(attr(VarCorr(fg)[[1]], "stddev")), loglik = as.numeric(logLik(fg)),
                conv_opt = fg@optinfo$conv$opt,
                lme4_messages = arr(as.character(unlist(fg@optinfo$conv$lme4$messages)))),
    glmmTMB = list(fixef = arr(unname(fixef(ft)$cond)), fixef_se = arr(unname(sqrt(diag(vcov(ft)$cond)))),
                   re_sd = unname(attr(VarCorr(ft)$cond[[1]], "stddev")),
                   loglik = as.numeric(logLik(ft)), convergence = ft$fit$convergence,
                   message = ft$fit$message, pdHess = ft$sdr$pdHess)
  )
  if (G <= 1000) {
    case$data <- list(y = arr(d$y), x = arr(d$x), group = as.integer(d$g) - 1L,
                      u_true = arr(d$u[seq(1, nrow(d), by = sim_m)]))
  }
  sim$cases[[paste0("groups_", G)]] <- case
  cat("timing", G, "groups: glmer", median(t_lme4[, 1]), "s (CPU", median(t_lme4[, 2]),
      "s), glmmTMB", median(t_tmb[, 1]), "s (CPU", median(t_tmb[, 2]), "s)\n")
}
sim$machine$loadavg_after <- tryCatch(readLines("/proc/loadavg"), error = function(e) "")
writeLines(json(sim), "tests/references/random_effects_sim.json")
