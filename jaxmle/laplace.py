"""Random effects: the marginal likelihood of a model with random effects, by the Laplace
approximation or adaptive Gauss-Hermite quadrature, as a model of the fixed parameters.

A model with random effects is written as TMB writes it: ``loglik`` is the *joint*
log-density of the observations and the random effects ``u`` (the density of ``u`` given
the fixed parameters included), and the parameters named in ``random=`` are integrated out:

    L(theta) = log of the integral of exp(loglik(theta, u)) du
             ~ loglik(theta, u_hat) + (q / 2) log(2 pi) - log det(-H_uu) / 2

at the conditional mode ``u_hat(theta)`` (the inner maximization), ``H_uu`` the Hessian of
the loglik in ``u`` there. :func:`laplace_model` turns such a model into a
:class:`~jaxmle.model.Model` of ``theta`` alone whose log-likelihood is ``L``: ``jm.fit``
maximizes it as any other (the outer problem), with exact derivatives: ``u_hat`` moves with
``theta`` by the implicit function theorem (never by differentiating the inner iterations),
and the log-determinant is differentiated through it. The standard errors come from the
Hessian of ``L``; profiles, ``derived`` and likelihood-ratio tests work as for any fit.

Two forms:

- **grouped** (``grouped=True``): the random effects of each group touch only that group's
  observations (a random intercept or slope per sensor, herd or patient). Every leaf of the
  data has a leading axis of groups; ``loglik(params, data_g)`` is the joint log-density of
  one group, ``params[name]`` that group's effects (the spec gives the shape of one group's
  effects). ``H_uu`` is block-diagonal: the inner problem is a batch of small independent
  Newton solves (:func:`~jaxmle.optimize.minimize_implicit_batch`) and ``L`` a sum over the
  groups (one contribution per group: the model's observations are the groups). With one
  random effect per group, ``n_quad > 1`` integrates by adaptive Gauss-Hermite quadrature,
  as ``glmer(nAGQ=)`` does, where the Laplace approximation is poor (small binomial
  groups).
- **dense** (the default): any structure, the spec gives the shape of all the effects, the
  inner problem one Newton solve over all of them; for up to :data:`DENSE_MAX` effects.

Every inner problem must converge: where one does not (a group whose effect runs to a
limit), its contribution, and so ``L``, is not finite, and the fit does not end
``CONVERGED``.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._linalg import cholesky_solve, diag
from .constraints import Real
from .model import Model
from .optimize import DampedNewton, minimize_implicit, minimize_implicit_batch, reuse_at_optimum

__all__ = [
    "DENSE_MAX",
    "INNER_MAX_ITER",
    "InnerNewton",
    "laplace_model",
    "pad_groups",
    "random_effects",
]

#: the most random effects of the dense form (one dense Hessian of their size)
DENSE_MAX = 500
#: iteration limit of an inner problem
INNER_MAX_ITER = 100


class InnerNewton(DampedNewton):
    """The solver of the inner problems (the conditional modes): :class:`~jaxmle.optimize.
    DampedNewton` without the repair and review hooks. Every copy of the marginal likelihood
    in the compiled fit (its value, its derivatives, the limit probe) holds one inner loop, and
    the hooks' branches were most of its size: a fit of a random-intercept model compiled in
    14 s instead of 44 s (the trust region with its hooks). What the hooks catch (a Hessian
    not finite at an isolated point, a valley to a limit) ends an inner problem unconverged
    here, which the fit reports (its marginal likelihood is then not finite).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxmle.laplace import InnerNewton
        >>> from jaxmle.optimize import newton
        >>> r = newton(lambda x: jnp.sum(jnp.cosh(x - 1.0)), jnp.zeros(2), solver=InnerNewton())
        >>> bool(r.converged), r.x.round(6).tolist()
        (True, [1.0, 1.0])
    """

    has_repair = False
    has_review = False


class RandomEffects:
    """What :func:`laplace_model` keeps of the model with random effects: the joint model,
    the names of the random parameters, their layout, the form and the quadrature."""

    def __init__(self, joint: Model, random: tuple[str, ...], grouped: bool, n_quad: int):
        self.joint = joint
        self.random = random
        self.grouped = grouped
        self.n_quad = n_quad
        self.layout = Model(_no_loglik, {k: joint.spec[k] for k in random}, rewrite=False)
        self.fixed_spec = {k: c for k, c in joint.spec.items() if k not in random}
        self.q = self.layout.free_size

    def neg_joint(self, u, theta, treedef, *leaves):
        """Minus the joint log-density at the effects ``u`` (flat) and the fixed ``theta``,
        the data given as the leaves of ``treedef``."""
        params = {**theta, **self.layout.to_constrained(u)}
        data = jax.tree_util.tree_unflatten(treedef, list(leaves))
        return -jnp.sum(self.joint.compiled_loglik(params, data))

    def modes(self, theta, data, on_failure_grad="nan"):
        """``(u_hat, result, closed, all_args)``: the conditional modes (flat, per group in the
        grouped form), differentiable in ``theta`` and the data."""
        leaves, treedef = jax.tree_util.tree_flatten(data)
        dtype = jnp.result_type(*leaves, float)
        solver = InnerNewton(max_iter=INNER_MAX_ITER)
        if self.grouped:
            G = _groups(leaves)
            u0 = jnp.zeros((G, self.q), dtype)
            return minimize_implicit_batch(
                lambda u, *a: self.neg_joint(u, a[-1], treedef, *a[:-1]), u0, tuple(leaves),
                (theta,), solver=solver, on_failure_grad=on_failure_grad,
            )  # fmt: skip
        u0 = jnp.zeros((self.q,), dtype)
        return minimize_implicit(
            lambda u, th, *d: self.neg_joint(u, th, treedef, *d), u0, (theta, *leaves),
            solver=solver, on_failure_grad=on_failure_grad,
        )  # fmt: skip

    def marginal(self, theta, data):
        """The log marginal likelihood: per group (grouped) or its total (dense)."""
        u_hat, sol, closed, all_args = self.modes(theta, data)
        if self.grouped:
            args, common = all_args
            one = jax.vmap(
                lambda u, v, H, ok, *a: self._one(closed, u, v, H, ok, (*a, *common)),
                in_axes=(0, 0, 0, 0) + (0,) * len(args),
            )  # fmt: skip
            return one(u_hat, sol.value, sol.hess, _found(sol), *args)
        return self._one(closed, u_hat, sol.value, sol.hess, _found(sol), all_args)

    def _one(self, closed, u, value, hess, ok, args):
        """The log of the integral over one block of effects, at its mode ``u``."""
        f = reuse_at_optimum(closed, value, u, args)
        H = reuse_at_optimum(jax.hessian(closed), jnp.nan_to_num(hess), u, args)
        q = u.shape[0]
        _, piv = cholesky_solve(H, jnp.zeros_like(u))
        logdet = 2.0 * jnp.sum(jnp.log(piv))
        if self.n_quad == 1:
            out = -f + 0.5 * q * math.log(2 * math.pi) - 0.5 * logdet
        else:
            # adaptive Gauss-Hermite: u = u_hat + sqrt(2) s z, s = H^(-1/2), over the nodes z_k
            z, w = np.polynomial.hermite.hermgauss(self.n_quad)
            s = 1.0 / jnp.sqrt(diag(H)[0])
            nodes = u + jnp.sqrt(2.0) * s * jnp.asarray(z, u.dtype)[:, None]
            vals = jax.vmap(lambda x: closed(x, *args))(nodes)
            terms = -vals + jnp.asarray(z**2 + np.log(w), u.dtype)
            out = jnp.log(jnp.sqrt(2.0) * s) + jax.scipy.special.logsumexp(terms)
        return jnp.where(ok, out, jnp.nan)


def _found(sol):
    """Whether an inner problem found its mode: converged, and not by running to a limit (a
    decrement that vanished with the curvature, as an effect with no density of its own
    running to infinity on a separated group)."""
    return sol.converged & ~jnp.any(sol.divergent, axis=-1)


def _no_loglik(params, data):
    raise NotImplementedError("the layout of the random effects has no log-likelihood")


def _groups(leaves) -> int:
    sizes = {jnp.shape(x)[0] if jnp.ndim(x) else None for x in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "grouped random effects: every leaf of the data needs the same leading axis of "
            f"groups; got leading sizes {sorted(map(str, sizes))}"
        )
    return sizes.pop()


def laplace_model(model: Model, *, n_quad: int | None = None) -> Model:
    """The model of the fixed parameters whose log-likelihood is the marginal likelihood of
    ``model`` with its random effects (``model.random``) integrated out: by the Laplace
    approximation (``n_quad=1``, the default) or adaptive Gauss-Hermite quadrature with
    ``n_quad`` nodes (grouped form, one effect per group). ``jm.fit`` calls it for a model
    with random effects; the fitted model is this one.

    Example:
        >>> import jax.numpy as jnp, jax.scipy.stats as st
        >>> import jaxmle as jm
        >>> def joint(p, d):   # one group: y_ij = mu + u_i + e_ij
        ...     return (st.norm.logpdf(d, p["mu"] + p["u"], p["sigma"]).sum()
        ...             + st.norm.logpdf(p["u"], 0.0, p["tau"]))
        >>> m = jm.Model(joint, {"mu": jm.Real(), "sigma": jm.Positive(), "tau": jm.Positive(),
        ...                      "u": jm.Real()}, random=["u"], grouped=True)
        >>> jm.laplace_model(m).param_names
        ('mu', 'sigma', 'tau')
    """
    random = tuple(model.random or ())
    if not random:
        raise ValueError(f"the model {model.name!r} has no random effects (random=)")
    for key in random:
        if key not in model.spec:
            raise ValueError(
                f"random effect {key!r} is not a parameter of the model; its parameters are "
                f"{list(model.spec)}"
            )
        if not isinstance(model.spec[key], Real):
            raise ValueError(
                f"random effect {key!r} must be jm.Real (integrated over the real line), got "
                f"{model.spec[key]!r}"
            )
    if len(random) == len(model.spec):
        raise ValueError("every parameter is a random effect: nothing is left to fit")
    n_quad = model.n_quad if n_quad is None else int(n_quad)
    made = model.marginal_models.get(n_quad)
    if made is not None:
        return made
    re = RandomEffects(model, random, bool(model.grouped), n_quad)
    if n_quad < 1:
        raise ValueError(f"n_quad must be at least 1, got {n_quad}")
    if n_quad > 1 and not (re.grouped and re.q == 1):
        raise ValueError(
            "adaptive Gauss-Hermite quadrature (n_quad > 1) needs one random effect per group "
            f"(grouped=True); this model has {re.q} per "
            + ("group" if re.grouped else "fit (dense form)")
        )
    if not re.grouped and re.q > DENSE_MAX:
        raise ValueError(
            f"{re.q} random effects in the dense form (at most {DENSE_MAX}): declare them per "
            "group (grouped=True, the data's leading axis the groups, the spec the shape of "
            "one group's effects), whose inner problems are small and independent"
        )
    init_fn = model.init_fn

    def init(data):
        given = {} if init_fn is None else init_fn(data)
        return {k: v for k, v in given.items() if k not in random}

    out = Model(
        re.marginal, re.fixed_spec, init=init, name=f"{model.name} (Laplace)"
        if n_quad == 1 else f"{model.name} (AGQ {n_quad})", rewrite=False, integrated=re,
    )  # fmt: skip
    model.marginal_models[n_quad] = out
    return out


def random_effects(result) -> dict:
    """The conditional modes of the random effects of a fit and their standard errors.

    Returns a dict with ``"mode"`` (dict name -> the modes ``u_hat`` at the estimate, with a
    leading axis of groups in the grouped form), ``"sd"`` (the conditional standard
    deviations ``sqrt(diag(H_uu^-1))`` at the estimate, lme4's ``condVar``) and ``"se"`` (the
    prediction standard errors that add the uncertainty of the estimate, ``H_uu^-1 +
    J cov J'`` with ``J = d u_hat / d theta``, as TMB's ``sdreport``).

    Example:
        >>> import numpy as np, jax.numpy as jnp, jax.scipy.stats as st
        >>> import jaxmle as jm
        >>> def joint(p, d):
        ...     return (st.norm.logpdf(d, p["mu"] + p["u"], p["sigma"]).sum()
        ...             + st.norm.logpdf(p["u"], 0.0, p["tau"]))
        >>> m = jm.Model(joint, {"mu": jm.Real(), "sigma": jm.Positive(), "tau": jm.Positive(),
        ...                      "u": jm.Real()}, random=["u"], grouped=True)
        >>> y = np.random.default_rng(0).normal(size=(8, 5)) + np.arange(8)[:, None] * 0.5
        >>> res = jm.fit(m, jnp.asarray(y))
        >>> re = jm.random_effects(res)
        >>> re["mode"]["u"].shape, bool(np.all(re["se"]["u"] > re["sd"]["u"]))
        ((8,), True)
    """
    re = result.model.integrated
    if re is None:
        raise ValueError("the fit's model has no random effects")
    if jnp.ndim(result.loglik) != 0:
        raise ValueError("random_effects takes one fit; index a batch first (res[i])")
    model = result.model
    u_hat, var_c, var_p = _conditional(model, model.flatten(result.params), result.data,
                                       result.cov)  # fmt: skip
    lead = (u_hat.shape[0],) if re.grouped else ()

    def split(v):
        out, start = {}, 0
        for key, c in re.layout.spec.items():
            out[key] = jnp.reshape(v[..., start : start + c.size], lead + c.shape)
            start += c.size
        return out

    return {"mode": split(u_hat), "sd": split(jnp.sqrt(var_c)), "se": split(jnp.sqrt(var_p))}


@functools.partial(jax.jit, static_argnums=0)
def _conditional(model, flat, data, cov):
    """``(u_hat, var_c, var_p)`` of :func:`random_effects`, compiled once per model: one inner
    solve, its derivative in theta by the implicit function theorem (forward mode: one
    column per parameter)."""
    re = model.integrated

    def modes_of(flat_theta):
        u, sol, _, _ = re.modes(model.unflatten(flat_theta), data)
        return u, lax.stop_gradient((u, sol.hess))

    J, (u_hat, hess) = jax.jacfwd(modes_of, has_aux=True)(flat)
    if re.grouped:
        cond = jax.vmap(jnp.linalg.inv)(hess)
        extra = jnp.einsum("gia,ab,gjb->gij", J, cov, J)
        return u_hat, jax.vmap(diag)(cond), jax.vmap(diag)(cond + extra)
    cond = jnp.linalg.inv(hess)
    return u_hat, diag(cond), diag(cond + J @ cov @ J.T)


def pad_groups(data: dict, groups, *, n_groups: int | None = None) -> dict:
    """Observations in rows, with a group index per row, as the data of a grouped model:
    each array ``(n, ...)`` becomes ``(G, m, ...)`` (``m`` the largest group), padded with the
    group's first row, and ``"mask"`` ``(G, m)`` is 1.0 on the real rows and 0.0 on the
    padding (the loglik multiplies its terms by it).

    Args:
        data: dict from name to array, each with one row per observation.
        groups: the group of each row, integers ``0 .. G-1``.
        n_groups: ``G`` (default: the largest index plus one); a group with no rows is an
            error.

    Example:
        >>> import numpy as np
        >>> from jaxmle.laplace import pad_groups
        >>> d = pad_groups({"y": np.array([1.0, 2.0, 3.0])}, np.array([0, 1, 0]))
        >>> d["y"].tolist(), d["mask"].tolist()
        ([[1.0, 3.0], [2.0, 2.0]], [[1.0, 1.0], [1.0, 0.0]])
    """
    g = np.asarray(groups)
    if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"groups must be a 1-d integer array, got shape {g.shape} {g.dtype}")
    if "mask" in data:
        raise ValueError("data already has a 'mask' entry; pad_groups adds it")
    G = int(g.max()) + 1 if n_groups is None else int(n_groups)
    if g.size and (g.min() < 0 or g.max() >= G):
        raise ValueError(f"group indices must be in 0..{G - 1}, got {g.min()}..{g.max()}")
    counts = np.bincount(g, minlength=G)
    if np.any(counts == 0):
        raise ValueError(f"groups with no rows: {np.flatnonzero(counts == 0)[:10].tolist()}")
    m = int(counts.max())
    order = np.argsort(g, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(g.size) - np.repeat(starts, counts)  # position of each sorted row
    rows = np.repeat(order[starts], m).reshape(G, m)  # (padding: the group's first row)
    rows[g[order], pos] = order
    mask = np.zeros((G, m))
    mask[g[order], pos] = 1.0
    out = {}
    for key, value in data.items():
        arr = np.asarray(value)
        if arr.shape[:1] != g.shape:
            raise ValueError(f"data[{key!r}] has {arr.shape[:1]} rows; groups has {g.shape[0]}")
        out[key] = arr[rows]
    out["mask"] = mask
    return out
