"""Regression models whose losses are likelihoods."""

from .design import design_matrix
from .regression import (
    LinearRegression,
    LogisticRegression,
    NegativeBinomialRegression,
    PoissonRegression,
    ProbitRegression,
    WeibullAFT,
)

__all__ = [
    "LinearRegression",
    "LogisticRegression",
    "ProbitRegression",
    "PoissonRegression",
    "NegativeBinomialRegression",
    "WeibullAFT",
    "design_matrix",
]
