# Reference values of tests/test_conventions.py: score (Rao) tests, HC0-HC3 and cluster
# covariances, expected-information standard errors of probit and negative binomial GLMs,
# cluster t tests. Run from the repository root:
#   Rscript tests/references/inference_conventions.R
# It writes tests/references/inference_conventions.json (data and values, with the R and
# package versions). Needs R with the sandwich, lmtest, MASS and survival packages.
suppressPackageStartupMessages({
  library(sandwich)
  library(lmtest)
  library(MASS)
  library(survival)
})

num <- function(x) {
  x <- as.numeric(x)
  paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
}
json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (is.list(x)) {
    keys <- names(x)
    parts <- vapply(seq_along(x), function(i) {
      paste0(inner, "\"", keys[i], "\": ", json(x[[i]], inner))
    }, "")
    return(paste0("{\n", paste(parts, collapse = ",\n"), "\n", indent, "}"))
  }
  if (is.character(x)) return(paste0("\"", x, "\""))
  if (is.matrix(x)) {
    rows <- vapply(seq_len(nrow(x)), function(i) num(x[i, ]), "")
    return(paste0("[", paste(rows, collapse = ", "), "]"))
  }
  if (length(x) == 1) return(sprintf("%.17g", as.numeric(x)))
  num(x)
}

set.seed(20261206)
out <- list()
out$provenance <- list(
  R = R.version.string,
  sandwich = as.character(packageVersion("sandwich")),
  lmtest = as.character(packageVersion("lmtest")),
  MASS = as.character(packageVersion("MASS")),
  survival = as.character(packageVersion("survival")),
  script = "tests/references/inference_conventions.R"
)

# -- a logistic, a probit and a Poisson GLM: n = 40, G = 8 clusters of 5 -----------------
n <- 40
x1 <- round(rnorm(n), 6)
x2 <- round(rnorm(n), 6)
g <- rep(1:8, each = 5)
u <- rnorm(8)[g]
y_logit <- as.numeric(runif(n) < plogis(0.2 + 0.8 * x1 + 0.5 * x2 + u))
y_probit <- as.numeric(runif(n) < pnorm(-0.1 + 0.6 * x1 + 0.4 * x2))
y_pois <- rpois(n, exp(0.3 + 0.4 * x1 + 0.25 * x2 + 0.3 * u))
out$glm_data <- list(x1 = x1, x2 = x2, groups = g, y_logit = y_logit, y_probit = y_probit,
                     y_pois = y_pois)

tight <- glm.control(epsilon = 1e-14, maxit = 100)
glm_block <- function(y, family) {
  m1 <- glm(y ~ x1 + x2, family = family, control = tight)
  m0 <- glm(y ~ x1, family = family, control = tight)
  rao <- anova(m0, m1, test = "Rao")
  lrt <- anova(m0, m1, test = "LRT")
  list(
    coef = coef(m1),
    se = sqrt(diag(vcov(m1))),
    rao = rao$Rao[2], rao_p = rao[["Pr(>Chi)"]][2],
    lr = lrt$Deviance[2],
    HC0 = vcovHC(m1, type = "HC0"), HC1 = vcovHC(m1, type = "HC1"),
    HC2 = vcovHC(m1, type = "HC2"), HC3 = vcovHC(m1, type = "HC3"),
    cl_default = vcovCL(m1, cluster = g),            # type HC0, G / (G - 1)
    cl_hc1 = vcovCL(m1, cluster = g, type = "HC1"),  # G / (G - 1) (N - 1) / (N - K)
    # Wald z and t(G - 1) p-values of x2 with vcovCL's default
    p_z = coeftest(m1, vcov. = vcovCL(m1, cluster = g))[3, 4],
    p_t = coeftest(m1, vcov. = vcovCL(m1, cluster = g), df = 8 - 1)[3, 4]
  )
}
out$logit <- glm_block(y_logit, binomial(link = "logit"))
out$probit <- glm_block(y_probit, binomial(link = "probit"))
out$poisson <- glm_block(y_pois, poisson(link = "log"))

# -- negative binomial (NB2): glm.nb reports the expected information of the coefficients --
nb_n <- 60
z1 <- round(rnorm(nb_n), 6)
y_nb <- rnegbin(nb_n, mu = exp(0.8 + 0.5 * z1), theta = 2)
nb <- glm.nb(y_nb ~ z1, control = tight)
out$nb <- list(z1 = z1, y = y_nb, coef = coef(nb), se = sqrt(diag(vcov(nb))),
               theta = nb$theta, se_theta = nb$SE.theta, loglik = as.numeric(logLik(nb)))

# -- Weibull AFT: survreg's test of Log(scale) = 0 (shape 1, the exponential) -------------
w_n <- 30
w1 <- round(rnorm(w_n), 6)
t_true <- rweibull(w_n, shape = 1.3, scale = exp(0.5 + 0.4 * w1))
cens <- rexp(w_n, 0.15)
time <- round(pmin(t_true, cens), 6)
event <- as.numeric(t_true <= cens)
aft <- survreg(Surv(time, event) ~ w1, dist = "weibull",
               control = survreg.control(rel.tolerance = 1e-13, maxiter = 100))
tab <- summary(aft)$table
out$weibull_aft <- list(x = w1, time = time, event = event, coef = coef(aft),
                        log_scale = log(aft$scale), z_log_scale = tab["Log(scale)", "z"],
                        p_log_scale = tab["Log(scale)", "p"])

writeLines(json(out), "tests/references/inference_conventions.json")
