"""Status: why a fit stopped (a code stored in results as an integer array).

Defined apart from :mod:`jaxmle.results` so that formatting (:mod:`jaxmle._format`), which
the results use, can name the codes too; ``jaxmle.results.Status`` and ``jaxmle.Status`` are
this class.
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """Why a fit stopped. Stored in results as an integer array, so it batches and traces.

    Attributes:
        CONVERGED: the Newton decrement fell below the tolerance at an interior
            maximum with a positive definite information matrix.
        MAX_ITER: the iteration limit was reached first (``n_iter == max_iter``).
        NONFINITE: the log-likelihood, its gradient or Hessian (or the data)
            were not finite at the start.
        BOUNDARY: the maximum lies on the edge of a constraint (a probability of
            1, a coefficient running to infinity under separation); the
            affected standard errors are NaN.
        SINGULAR: the information matrix is singular (a parameter is not
            identified); standard errors are NaN.
        STALLED: the solver stopped before the iteration limit because no
            acceptable step could be found (no measurable progress for several
            iterations, or a step too small to change the estimate), and the
            point is not a verified maximum; standard errors are computed at the
            last point but are not to be trusted.
        INVALID_DATA: (batches only) the dataset is invalid for the model: data
            outside the family's support, an ``event`` that is not 0/1, or fewer
            observations than free parameters. Estimates and standard errors are
            NaN; a single fit raises a ``ValueError`` instead.

    Example:
        >>> import jaxmle as jm
        >>> jm.Status(0).name
        'CONVERGED'
    """

    CONVERGED = 0
    MAX_ITER = 1
    NONFINITE = 2
    BOUNDARY = 3
    SINGULAR = 4
    STALLED = 5
    INVALID_DATA = 6
