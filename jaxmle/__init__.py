"""jaxmle: maximum-likelihood estimation with JAX.

A model is a pure log-likelihood plus a parameter spec; jaxmle compiles it,
maximizes it with exact derivatives, and reports standard errors, confidence
intervals and fit diagnostics, for one dataset or thousands at once.
"""

from . import distributions, interop, models
from ._compile import compiler_options
from ._version import __version__ as __version__
from ._warnings import Float32Warning, InferenceWarning, RecompileWarning
from .bootstrap import BootstrapResult, bootstrap
from .competing import cause_params, competing_reliability, competing_risks, fit_competing
from .constraints import Bounded, Constraint, Positive, Real, Simplex, UnitInterval
from .distributions import families
from .fit import fit, fit_batch
from .fitdist import fit_dist
from .hypothesis import Comparison, HypothesisTest, compare, lr_test, score_test, wald_test
from .laplace import laplace_model, pad_groups, random_effects
from .life import (
    b_life,
    hazard,
    life_columns,
    life_family,
    mean_life,
    quantile,
    reliability,
)
from .model import Model
from .models import fit_formula
from .profile import (
    Derived,
    Profile,
    ProfileIntervals,
    ProfileStatus,
    ProfileWarning,
    derived,
    profile_intervals,
)
from .profile import conf_int_profile as _conf_int_profile
from .profile import profile as _profile
from .results import FitResult, Status
from .results import register_refits as _register_refits
from .tables import fit_groups

# The FitResult methods that solve again are thin conveniences over jaxmle.profile, which
# sits above the fit; results.py (data, below the fit) cannot import it, so they are
# wired here, once everything is imported (see docs/architecture.md).
_register_refits(conf_int_profile=_conf_int_profile, profile=_profile, derived=derived)


__all__ = [
    "Model",
    "Constraint",
    "Real",
    "Positive",
    "Bounded",
    "UnitInterval",
    "Simplex",
    "fit",
    "fit_batch",
    "compiler_options",
    "fit_dist",
    "fit_groups",
    "fit_formula",
    "laplace_model",
    "random_effects",
    "pad_groups",
    "families",
    "distributions",
    "FitResult",
    "Status",
    "Float32Warning",
    "InferenceWarning",
    "RecompileWarning",
    "models",
    "interop",
    "Profile",
    "ProfileIntervals",
    "ProfileStatus",
    "ProfileWarning",
    "Derived",
    "profile_intervals",
    "derived",
    "HypothesisTest",
    "Comparison",
    "lr_test",
    "wald_test",
    "score_test",
    "compare",
    "BootstrapResult",
    "bootstrap",
    "life_family",
    "quantile",
    "b_life",
    "reliability",
    "mean_life",
    "hazard",
    "life_columns",
    "competing_risks",
    "fit_competing",
    "cause_params",
    "competing_reliability",
]
