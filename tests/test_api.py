"""The public surface: every public name is documented with a runnable example."""

import inspect

import jaxmle as jm


def _public_objects():
    for name in jm.__all__:
        obj = getattr(jm, name)
        yield name, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (
                    inspect.isfunction(member) or isinstance(member, property)
                ):
                    continue
                yield f"{name}.{attr}", member


def test_every_public_name_has_a_docstring():
    missing = [name for name, obj in _public_objects() if not inspect.getdoc(obj)]
    assert not missing, f"no docstring: {missing}"


def test_every_public_entry_point_has_an_example():
    top = [
        jm.fit,
        jm.fit_batch,
        jm.Model,
        jm.Real,
        jm.Positive,
        jm.Bounded,
        jm.UnitInterval,
        jm.Simplex,
        jm.FitResult,
        jm.Status,
        jm.FitResult.conf_int,
        jm.models.LinearRegression,
        jm.models.LogisticRegression,
        jm.models.PoissonRegression,
    ]
    missing = [obj.__qualname__ for obj in top if ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"no example in the docstring: {missing}"


# `import jaxmle` leaves float64 off in a fresh process: test_float32.py
# (test_import_does_not_flip_x64, which imports more of the package). The result as a pytree:
# test_results.py
