"""The ``jaxmle`` command line.

``jaxmle fit DATA.csv --family weibull --value hours --event failed --by sensor_id
--out results.csv`` fits one model per group of a long-format table (CSV, or
Parquet with ``pyarrow``) in batches, as :func:`jaxmle.fit_groups` does (one
batch, or one per power-of-two size bucket where the group sizes are very
uneven and the padding would be large), prints a summary and writes one row per
group: the group column, then ``NAME``, ``NAME_se``, ``NAME_lo``, ``NAME_hi``
per parameter, then ``loglik``, ``nobs`` and ``status``. The intervals are by
default Wald intervals on each parameter's fitting scale (log for a positive
parameter, logit for a bounded one), mapped back: they never leave the support
(``--ci profile`` for profile-likelihood intervals, ``--ci wald`` for the
natural-scale Wald interval). A group with fewer observations than parameters
gets status ``INVALID_DATA``. For a lifetime family, ``--b-life 10``,
``--reliability-at 1000`` and ``--mean-life`` add the columns ``B10``,
``R_1000`` and ``mean_life`` (each with ``_se``, ``_lo``, ``_hi``), those of
:func:`jaxmle.life_columns` with the same interval method.

``jaxmle demo`` fits the worked examples of the maximum-likelihood note and
prints each estimate and standard error beside its closed form, then fits a
simulated batch of 10,000 sensors and checks the coverage of its intervals.

Both commands run in float64 unless given ``--float32``, and keep compiled
kernels in a persistent cache (``~/.cache/jaxmle``, or ``$JAXMLE_CACHE_DIR``;
``JAXMLE_CACHE_DIR=off`` or ``--no-cache`` turns it off), so that a second run
of the same fit does not compile again.

Exit codes:
    0: done (for ``fit``: at least one group converged).
    1: ``fit``: no group converged (the results are still written);
       ``demo``: a number disagreed with its closed form.
    2: a usage or input error (bad arguments, a missing file or column,
       non-numeric values, values outside the family's support, ...), reported
       as one line ``jaxmle: error: ...``.
    130: interrupted.

Example:
    >>> from jaxmle.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    jaxmle ...
    0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import sys
import time

import numpy as np

from . import demo, plot
from ._compile import CACHE_MIN_COMPILE_SECS, cache_dir
from ._dataset import ENGINES, dataset_format, fit_dask, fit_local, fit_spark
from ._format import fmt, status_counts
from ._io import InputError, group_index, numeric_column, read_table, write_rows
from ._status import Status
from ._version import __version__
from .distributions.discrete import CategoricalDist, MultinomialDist
from .distributions.families import model_for
from .distributions.registry import DISTRIBUTIONS, get_distribution
from .life import LIFE_FAMILIES, LIFE_METHODS, life_columns
from .tables import fit_grouped

__all__ = ["main", "EXIT_OK", "EXIT_NOT_CONVERGED", "EXIT_USAGE", "cache_dir", "family_list"]

EXIT_OK = 0
EXIT_NOT_CONVERGED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: size limit of the cache folder (least recently used entries go first; needs filelock)
CACHE_MAX_BYTES = 512 * 2**20
#: groups shown in the printed table of a fit with several groups
SHOW_GROUPS = 10
#: the intervals NAME_lo, NAME_hi (and those of the printed summary): Wald intervals built on
#: each parameter's unconstrained scale (log for a positive parameter, logit for a bounded
#: one) and mapped back, so that they never leave the parameter's support
CI_METHOD = "wald_transformed"


#: the option a family needs before it has parameters (its number of trials or categories)
_NEEDED_OPTION = {"binomial": "trials=N", "categorical": "k=K", "multinomial": "k=K"}


def family_list() -> str:
    """The families of ``jaxmle fit --family``, one a line, each with its parameters (the
    columns of the results), as ``jaxmle fit --help`` lists them.

    Example:
        >>> from jaxmle.cli import family_list
        >>> print(next(l for l in family_list().splitlines() if l.split()[0] == "weibull"))
          weibull             shape, scale
    """
    lines = []
    for name, dist in DISTRIBUTIONS.items():
        if name == "multinomial":  # (k count columns per row: Python only)
            continue
        option = _NEEDED_OPTION.get(name)
        filled = dist.with_options(**{option.split("=")[0]: 2}) if option else dist
        params = "p[0], ..., p[K-1]" if name == "categorical" else ", ".join(filled.spec())
        if option:
            params += f"   (--option {option})"
        if name == "pareto":
            params += "   (--option scale=S; default: the smallest value)"
        lines.append(f"  {name:<20}{params}")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        self.exit(EXIT_USAGE, f"jaxmle: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--float32",
        action="store_true",
        help="compute in float32 (by default the command enables float64 for itself)",
    )
    common.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use the persistent compilation cache (see JAXMLE_CACHE_DIR)",
    )

    p = _Parser(prog="jaxmle", description="Maximum-likelihood estimation with JAX.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="fit the worked examples of the MLE note and a simulated batch of sensors",
    )
    demo.add_argument(
        "--sensors",
        type=int,
        default=10_000,
        help="sensors in the simulated batch (default 10,000)",
    )

    fit = sub.add_parser(
        "fit",
        parents=[common],
        help="fit a distribution family to each group of a CSV or Parquet table",
        description="Fit a distribution family by maximum likelihood to each group of a\n"
        "long-format table (one row per observation), the groups fitted together in batches.",
        epilog=f"families (--family NAME) and their parameters:\n{family_list()}\n\n"
        "example:\n  jaxmle fit readings.csv --family weibull --value hours --event failed \\\n"
        "      --by sensor_id --out results.csv\n\n"
        "exit codes: 0 done, 1 no group converged, 2 usage or input error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "data",
        help="a .csv, .tsv, .csv.gz or .parquet file with a header, or a folder of them (a "
        "dataset; Hive folders KEY=VALUE add the column KEY)",
    )
    fit.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: in this process (default; a folder is streamed a few million rows at a "
        "time, which needs it partitioned or sorted by --by); dask: a local cluster of this "
        "machine's cores, or --scheduler; spark: local[*], or --master",
    )
    fit.add_argument(
        "--scheduler", metavar="ADDRESS", help="--engine dask: the address of a running scheduler"
    )
    fit.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="--engine dask: local worker processes (default: the cores)",
    )
    fit.add_argument(
        "--master", metavar="URL", help="--engine spark: the Spark master (default local[*])"
    )
    fit.add_argument(
        "--partitioned",
        action="store_true",
        help="a folder whose files each hold whole groups (partitioned by --by): no shuffle "
        "(found by itself for Hive folders --by=VALUE)",
    )
    fit.add_argument(
        "--family", required=True, help="family name, e.g. weibull, lognormal (listed below)"
    )
    fit.add_argument("--value", metavar="COL", help="column of the observations")
    fit.add_argument(
        "--event", metavar="COL", help="column: 1 observed, 0 right-censored (with --value)"
    )
    fit.add_argument(
        "--lower", metavar="COL", help="column of lower bounds (interval censoring, with --upper)"
    )
    fit.add_argument("--upper", metavar="COL", help="column of upper bounds; inf: right-censored")
    fit.add_argument(
        "--by", metavar="COL", help="column whose values define the groups (one fit per group)"
    )
    fit.add_argument(
        "--out", metavar="FILE", help="write one row per group: .csv, or JSON lines with .jsonl"
    )
    fit.add_argument(
        "--plot", metavar="FILE", help="save a figure (e.g. fit.png; needs jaxmle[plot])"
    )
    fit.add_argument(
        "--plot-kind",
        choices=("auto", "probability", "survival", "hazard"),
        default="auto",
        help="the figure of one group: auto (density, or survival for censored data), a "
        "probability plot, the survival curve, or the hazard (lifetime families); several "
        "groups: a caterpillar plot",
    )
    fit.add_argument("--level", default="0.95", help="confidence level (default 0.95)")
    fit.add_argument(
        "--ci",
        choices=LIFE_METHODS,
        default=CI_METHOD,
        help="interval method: Wald on the log/logit scale (default; never leaves the "
        "support), profile likelihood, or Wald on the natural scale",
    )
    fit.add_argument(
        "--b-life",
        action="append",
        default=[],
        type=float,
        metavar="P",
        help="add the B-life column BP: the time by which P percent fail (repeatable)",
    )
    fit.add_argument(
        "--reliability-at",
        action="append",
        default=[],
        type=float,
        metavar="T",
        help="add the column R_T: the reliability (fraction surviving) at time T (repeatable)",
    )
    fit.add_argument("--mean-life", action="store_true", help="add the column mean_life (the MTTF)")
    fit.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a family option, e.g. trials=10 for the binomial (repeatable)",
    )
    fit.add_argument(
        "--cov-type",
        choices=("observed", "robust", "opg"),
        default="observed",
        help="standard errors from the observed information (default), sandwich, or OPG",
    )
    fit.add_argument("--max-iter", type=int, default=100, help="solver iteration limit")
    fit.add_argument(
        "--omit-missing",
        action="store_true",
        help="leave out rows with a missing value (empty, NA, nan) instead of stopping",
    )
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (needs jaxmle[progress]; default: when stderr is a terminal)",
    )
    fit.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return p


# --------------------------------------------------------------------------
# jax settings of one command: float64 and the persistent compilation cache
# --------------------------------------------------------------------------
_CACHE_KEYS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_compilation_cache_max_size",
)


@contextlib.contextmanager
def _jax_settings(float64: bool, use_cache: bool):
    """Set float64 and the persistent cache for one command; restore both afterwards (the
    command line may be called in-process, as the tests do)."""
    import jax

    old_x64 = bool(jax.config.jax_enable_x64)
    old_cache = {k: jax.config.values[k] for k in _CACHE_KEYS}
    path = cache_dir() if use_cache else None
    ours = False
    if path and old_cache["jax_compilation_cache_dir"] is None:  # never override the user's
        try:
            os.makedirs(path, exist_ok=True)
            ours = os.access(path, os.W_OK)
        except OSError:
            ours = False  # an unwritable home: run without the cache
    try:
        jax.config.update("jax_enable_x64", float64)
        if ours:
            jax.config.update("jax_compilation_cache_dir", path)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECS)
            if importlib.util.find_spec("filelock") is not None:  # jax needs it to evict
                jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
        yield
    finally:
        jax.config.update("jax_enable_x64", old_x64)
        if ours:
            from jax.experimental.compilation_cache import compilation_cache

            for k, v in old_cache.items():
                jax.config.update(k, v)
            compilation_cache.reset_cache()


# --------------------------------------------------------------------------
# jaxmle fit
# --------------------------------------------------------------------------
def _level(text: str) -> float:
    try:
        level = float(text)
    except ValueError:
        raise InputError(f"--level must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 < level < 1.0:
        hint = f" (did you mean {level / 100:g}?)" if 1.0 < level < 100.0 else ""
        raise InputError(f"--level must be between 0 and 1, e.g. 0.95; got {text}{hint}")
    return level


def _options(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--option takes NAME=VALUE (e.g. trials=10), got {item!r}")
        try:
            value: float | int = float(text)
        except ValueError:
            raise InputError(f"--option {name.strip()}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"--option {name.strip()}: {text!r} is not a finite number")
        out[name.strip()] = int(value) if value.is_integer() else value
    return out


def _family_of_args(args):
    options = _options(args.option)
    try:
        dist = get_distribution(args.family, **options)
    except ValueError as err:  # unknown family: the message lists the known ones
        raise InputError(str(err)) from None
    except TypeError as err:  # unknown option
        raise InputError(str(err)) from None
    for name, value in options.items():  # trials, k (counts) and the Pareto's scale
        count = name in ("trials", "k")
        if value <= 0 or (count and not isinstance(value, int)):
            kind = "a positive integer" if count else "positive"
            raise InputError(f"--option {name} must be {kind}, got {value}")
    if isinstance(dist, MultinomialDist):
        raise InputError(
            "the multinomial needs k count columns per row; the command line fits one value "
            "column (use jm.fit_dist in Python, or the categorical family for one code per row)"
        )
    if dist.name == "binomial" and dist.trials is None:
        raise InputError("the binomial family needs its number of trials: --option trials=N")
    censor = [f"--{n}" for n in ("event", "lower", "upper") if getattr(args, n)]
    if not dist.continuous and censor:
        continuous = ", ".join(n for n, d in DISTRIBUTIONS.items() if d.continuous)
        raise InputError(
            f"{dist.name} is discrete: censoring ({', '.join(censor)}) is supported for the "
            f"continuous families only ({continuous})"
        )
    return dist


def _check_layout(args) -> None:
    interval = args.lower is not None or args.upper is not None
    if args.event is not None and interval:
        raise InputError(
            "--event (right censoring) and --lower/--upper (interval censoring) exclude each "
            "other: give one of them"
        )
    if interval:
        if args.lower is None or args.upper is None:
            raise InputError("interval censoring needs both --lower and --upper")
        if args.value is not None:
            raise InputError("give either --value (with optional --event) or --lower and --upper")
    elif args.value is None:
        raise InputError("which column holds the observations? give --value COLUMN")


def _check_extras(args) -> None:
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
            from matplotlib.figure import Figure
        except ImportError:
            raise InputError('--plot needs matplotlib: pip install "jaxmle[plot]"') from None
        ext = os.path.splitext(args.plot)[1].lstrip(".").lower()
        formats = Figure().canvas.get_supported_filetypes()
        if ext not in formats:
            raise InputError(
                f"--plot {args.plot}: unknown image format {ext!r}; use one of "
                f"{', '.join(sorted(formats))}"
            )
    if args.progress:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            raise InputError('--progress needs tqdm: pip install "jaxmle[progress]"') from None
    if args.max_iter < 1:
        raise InputError(f"--max-iter must be a positive integer, got {args.max_iter}")
    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path is None:
            continue
        if os.path.abspath(path) == os.path.abspath(args.data):
            raise InputError(f"{flag} {path} is the input file; choose another name")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise InputError(f"{flag} {path}: no such folder {folder}")


def _check_life(args, dist) -> None:
    """The life columns need a lifetime family and percentages inside (0, 100)."""
    flags = [f for f, on in (("--b-life", args.b_life), ("--reliability-at", args.reliability_at),
                             ("--mean-life", args.mean_life)) if on]  # fmt: skip
    if args.plot_kind in ("probability", "hazard"):
        flags.append(f"--plot-kind {args.plot_kind}")
        if args.by:
            raise InputError(f"--plot-kind {args.plot_kind} draws one group: leave out --by")
    if not flags:
        return
    if dist.name not in LIFE_FAMILIES:
        raise InputError(
            f"{', '.join(flags)} need a lifetime family ({', '.join(LIFE_FAMILIES)}), "
            f"not {dist.name}"
        )
    for p in args.b_life:
        if not 0 < p < 100:
            raise InputError(f"--b-life {_number(p)}: the percentage must lie strictly "
                             "between 0 and 100")  # fmt: skip
    for t in args.reliability_at:
        if not (np.isfinite(t) and t >= 0):
            raise InputError(f"--reliability-at {_number(t)}: the time must be finite and >= 0")


def _life(args, res, level) -> dict:
    return life_columns(
        res, b_lives=args.b_life, reliability_at=args.reliability_at, mean=args.mean_life,
        level=level, method=args.ci,
    )  # fmt: skip


def _life_lines(cols: dict, level: float) -> list[str]:
    """One line per life quantity of a single fit: estimate, SE and interval."""
    names = [k for k in cols if not k.endswith(("_se", "_lo", "_hi"))]
    if not names:
        return []
    a = (1 - level) / 2
    w = max(10, *(len(n) + 1 for n in names))
    lines = [
        "",
        f"{'life':<{w}}{'estimate':>11}{'std err':>11}{f'[{a:.3g}':>12}{f'{1 - a:.3g}]':>12}",
    ]
    for n in names:
        v = [float(np.ravel(cols[n + s])[0]) for s in ("", "_se", "_lo", "_hi")]
        lines.append(f"{n:<{w}}{fmt(v[0])}{fmt(v[1])}{fmt(v[2], 12)}{fmt(v[3], 12)}")
    return lines


def _progress(args) -> bool:
    if args.progress is not None:
        return args.progress
    if args.quiet or not sys.stderr.isatty():
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _read(args):
    """Read the table: its long-format numeric columns (``x`` and ``event``, or ``lower`` and
    ``upper``), the group labels and each row's group, and which rows are used (no missing
    value)."""
    value_cols = [args.value] if args.value is not None else [args.lower, args.upper]
    if args.event is not None:
        value_cols.append(args.event)
    table = read_table(args.data, value_cols + ([args.by] if args.by else []))
    missing = "omit" if args.omit_missing else "raise"
    data, miss = {}, np.zeros(table.n_rows, bool)
    if args.value is not None:
        data["x"], m = numeric_column(table, args.value, missing=missing)
        miss |= m
        if args.event is not None:
            data["event"], m = numeric_column(table, args.event, missing=missing)
            miss |= m
    else:
        data["lower"], m1 = numeric_column(table, args.lower, allow_inf=True, missing=missing)
        data["upper"], m2 = numeric_column(table, args.upper, allow_inf=True, missing=missing)
        miss |= m1 | m2
    if args.by:
        labels, inverse = group_index(table.values[args.by])
        blank = [
            g
            for g, k in enumerate(labels)
            if k is None or (isinstance(k, str) and not k.strip()) or (k != k)  # NaN
        ]
        if blank:
            i = int(np.argmax(np.isin(inverse, blank)))
            raise InputError(
                f"{args.data}: column {args.by!r} (the groups) is empty on {table.where(i)}"
            )
    else:
        labels, inverse = np.array([""], dtype=object), np.zeros(table.n_rows, np.int64)
    rows = np.flatnonzero(~miss)  # the rows used
    counts = np.bincount(inverse[rows], minlength=len(labels))
    if rows.size == 0:
        raise InputError(f"{args.data}: every row has a missing value; nothing to fit")
    if (counts == 0).any():
        g = labels[int(np.argmin(counts))]
        raise InputError(
            f"{args.data}: group {args.by} = {g} has no usable rows (all its values are missing)"
        )
    data = {k: v[rows] for k, v in data.items()}
    return table, labels, inverse[rows], data, rows


def _model(dist, data):
    if isinstance(dist, CategoricalDist) and dist.k is None:  # as fit_dist: max code + 1
        top = float(np.max(data["x"]))
        dist = dist.with_options(k=max(int(top) + 1 if np.isfinite(top) else 2, 2))
    try:
        return dist, model_for(dist)
    except (ValueError, TypeError) as err:  # an option the family's model refuses (k=1)
        raise InputError(f"{dist.name}: {err}") from None


#: offending rows named in the message about data outside a family's support
SHOW_BAD_ROWS = 3


def _number(v: float) -> str:
    """A value as short as it reads back exactly: ``-5``, ``1.5``, ``inf``."""
    v = float(v)
    short = f"{v:g}"
    return short if float(short) == v else repr(v)


def _check_support(args, table, dist, model, data, rows) -> None:
    """Rows the family cannot have produced (the model's ``data_check``: values outside the
    support, an event other than 0/1, lower > upper): an input error that names the first
    few rows, their values and the column."""
    found = model.data_check(data)
    bad = np.zeros(rows.size, bool) if found is None else np.asarray(found[0], bool)
    if bad.any():
        why = found[1]
        idx = np.flatnonzero(bad)
        first = idx[:SHOW_BAD_ROWS]
        if "lower" in data:
            where = f"columns {args.lower!r} and {args.upper!r}"
            values = [f"[{_number(data['lower'][i])}, {_number(data['upper'][i])}]" for i in first]
        else:
            col, key = args.value, "x"
            if args.event is not None and not np.isin(data["event"][idx], (0, 1)).all():
                col, key = args.event, "event"
            where = f"column {col!r}"
            values = [_number(data[key][i]) for i in first]
        shown = ", ".join(f"{v} on {table.where(int(rows[i]))}" for v, i in zip(values, first))
        if idx.size > SHOW_BAD_ROWS:
            shown += f" ({idx.size:,} rows in all)"
        raise InputError(f"{args.data}: {dist.name}: {why} in {where}: {shown}")
    if "lower" in data:  # both ends infinite on the same side: no interval at all
        none = (data["lower"] == np.inf) | (data["upper"] == -np.inf)
        if none.any():
            i = int(np.argmax(none))
            raise InputError(
                f"{args.data}: the interval in columns {args.lower!r} and {args.upper!r} is "
                f"[{_number(data['lower'][i])}, {_number(data['upper'][i])}] on "
                f"{table.where(int(rows[i]))}; it needs a finite end"
            )


def _table_lines(res, labels, by) -> list[str]:
    """The first groups' estimates and standard errors as a text table."""
    names = res.param_names
    est = np.asarray(res.model.flatten_batched(res.params, res.batch_shape))
    se = np.asarray(res.model.flatten_batched(res.se, res.batch_shape))
    status = np.asarray(res.status)
    shown = min(SHOW_GROUPS, len(labels))
    w = max(len(by), *(len(str(s)) for s in labels[:shown])) + 2
    head = f"{by:<{w}}" + "".join(f"{n:>12}{'se':>12}" for n in names) + "  status"
    lines = [head]
    for i in range(shown):
        row = f"{str(labels[i]):<{w}}"
        row += "".join(fmt(est[i, j], 12) + fmt(se[i, j], 12) for j in range(len(names)))
        lines.append(row + f"  {Status(int(status[i])).name}")
    return lines


def _too_small(model, res, labels, sizes, by) -> str | None:
    """One line naming the groups with fewer observations than free parameters (the fit gives
    them status INVALID_DATA and NaN estimates), or None."""
    k = model.free_size
    need = k if model.min_nobs is None else model.min_nobs
    few = (sizes < need) & (np.asarray(res.status) == Status.INVALID_DATA)
    n = int(few.sum())
    if not n:
        return None
    params = f"the {k} parameters ({', '.join(model.param_names)})"
    if not by:
        rows = "1 observation" if sizes[0] == 1 else f"{int(sizes[0]):,} observations"
        return f"  {rows}, fewer than {params}: status INVALID_DATA"
    names = [str(g) for g in labels[few][:SHOW_GROUPS]]
    if n > SHOW_GROUPS:
        names.append(f"and {n - SHOW_GROUPS:,} more")
    groups = "1 group has" if n == 1 else f"{n:,} groups have"
    return f"  {groups} fewer observations than {params}, status INVALID_DATA: {', '.join(names)}"


def _plot(args, dist, level, res, labels, one):
    from matplotlib.figure import Figure

    if len(labels) == 1:
        fig = Figure(figsize=(6.4, 4.8))
        ax = fig.subplots()
        censored = "lower" in one or ("event" in one and bool(np.any(one["event"] == 0)))
        xlabel = args.value if args.value is not None else f"{args.lower} to {args.upper}"
        kw = dict(ax=ax, level=level, method=args.ci)
        if args.plot_kind == "probability":
            plot.plot_probability(res[0], one, xlabel=xlabel, **kw)
        elif args.plot_kind == "hazard":
            plot.plot_hazard(res[0], one, xlabel=xlabel, **kw)
        elif censored or args.plot_kind == "survival":
            if dist.name not in LIFE_FAMILIES:
                kw["method"] = None
            plot.plot_survival(res[0], one, family=dist, xlabel=xlabel, **kw)
        else:
            plot.plot_fit(res[0], one, family=dist, ax=ax)
    else:
        shown = min(len(labels), 60)
        fig = Figure(figsize=(6.4, max(4.8, 0.16 * shown + 1.5) if len(labels) <= 60 else 6.4))
        ax = fig.subplots()
        plot.plot_caterpillar(
            res,
            res.param_names[0],
            ax=ax,
            level=level,
            labels=[str(s) for s in labels],
            method=args.ci,
        )
    fig.tight_layout()
    try:
        fig.savefig(args.plot, dpi=120)
    except OSError as err:
        raise InputError(f"cannot write {args.plot}: {err.strerror or err}") from None


def _cmd_fit_dataset(args) -> int:
    """A folder, or another engine than local: the table of jm.fit_groups, from the engine."""
    level = _level(args.level)
    _check_layout(args)
    dist = _family_of_args(args)
    dataset_format(args.data)  # a folder without data files: say so first
    where = f"--engine {args.engine}" if args.engine != "local" else "a folder"
    if not args.by:
        raise InputError(f"{where} is fitted group by group: give --by COLUMN")
    local_only = [f for f, on in (("--plot", args.plot), ("--b-life", args.b_life),
                                  ("--reliability-at", args.reliability_at),
                                  ("--mean-life", args.mean_life)) if on]  # fmt: skip
    if local_only:
        raise InputError(
            f"{', '.join(local_only)}: for one file with --engine local; fit {where} to a "
            "table (--out), then use jm.life_columns or jaxmle.plot in Python"
        )
    if args.scheduler and args.engine != "dask":
        raise InputError("--scheduler is for --engine dask")
    if args.master and args.engine != "spark":
        raise InputError("--master is for --engine spark")
    _check_extras(args)
    if isinstance(dist, CategoricalDist) and dist.k is None:
        raise InputError(f"{where}: the categorical family needs its categories: --option k=K")
    if args.value is not None:
        data = {"value": args.value, **({"event": args.event} if args.event else {})}
    else:
        data = {"lower": args.lower, "upper": args.upper}
    kw = dict(
        by=args.by,
        columns=list(data.values()),
        partitioned=args.partitioned,
        level=level,
        interval=args.ci,
        cov_type=args.cov_type,
        max_iter=args.max_iter,
        nan_policy="omit" if args.omit_missing else "raise",
        **data,
    )
    out = (lambda *a, **k: None) if args.quiet else print
    t0 = time.perf_counter()
    with _jax_settings(float64=not args.float32, use_cache=not args.no_cache):
        if args.engine == "dask":
            table = fit_dask(
                args.data, dist, scheduler=args.scheduler, n_workers=args.workers, **kw
            )
        elif args.engine == "spark":
            table = fit_spark(args.data, dist, master=args.master, **kw)
        else:
            table = fit_local(args.data, dist, **kw)
    t_fit = time.perf_counter() - t0
    if args.out is not None:
        write_rows(args.out, {c: table[c].to_numpy() for c in table.columns})
    status = np.array([Status[s] for s in table["status"]], np.int64)
    nobs = table["nobs"].to_numpy()
    out(
        f"jaxmle fit: {dist.name} on {args.data} ({args.engine}): {int(nobs.sum()):,} rows "
        f"used, {len(table):,} groups by {args.by}"
    )
    out(f"  status: {status_counts(status)}")
    if args.out is not None:
        out(f"written to {args.out}")
    out(f"time: {t_fit:.2f} s (reading, fitting and compilation)")
    if not (status == Status.CONVERGED).any():
        print(
            f"jaxmle: no group converged ({status_counts(status)}); see docs/statuses.md",
            file=sys.stderr,
        )
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _cmd_fit(args) -> int:
    if args.engine != "local" or os.path.isdir(args.data):
        return _cmd_fit_dataset(args)
    level = _level(args.level)
    _check_layout(args)
    dist = _family_of_args(args)
    _check_extras(args)
    _check_life(args, dist)

    t0 = time.perf_counter()
    table, labels, inverse, data, rows = _read(args)
    with _jax_settings(float64=not args.float32, use_cache=not args.no_cache):
        dist, model = _model(dist, data)
        _check_support(args, table, dist, model, data, rows)  # before padding into groups
        read = (table, labels, inverse, data, rows.size)
        t_read = time.perf_counter() - t0
        return _fit_and_report(args, dist, model, level, read, t_read)


def _fit_and_report(args, dist, model, level, read, t_read) -> int:
    import jax

    out = (lambda *a, **k: None) if args.quiet else print
    table, labels, inverse, data, n_used = read
    sizes = np.bincount(inverse, minlength=len(labels))

    if args.by:
        names = model.param_names
        life = [f"B{_number(p)}" for p in args.b_life]
        life += [f"R_{_number(t)}" for t in args.reliability_at]
        life += ["mean_life"] if args.mean_life else []
        taken = {f"{n}{s}" for n in (*names, *life) for s in ("", "_se", "_lo", "_hi")}
        if args.by in taken | {"loglik", "nobs", "status"}:
            raise InputError(
                f"--by {args.by}: the results have a column of that name; rename the column"
            )
    t0 = time.perf_counter()
    try:
        res = fit_grouped(
            model,
            data,
            inverse,
            len(labels),
            nan_policy="propagate",  # the values were checked above; inf bounds are censoring
            cov_type=args.cov_type,
            max_iter=args.max_iter,
            progress=_progress(args),
        )
        jax.block_until_ready(res)
    except (ValueError, TypeError) as err:
        raise InputError(f"{dist.name}: {err}") from None
    t_fit = time.perf_counter() - t0

    t0 = time.perf_counter()
    life = _life(args, res, level)
    if args.out is not None:
        cols = {**res.to_dict(level, method=args.ci), **life}
        if args.by:
            cols = {args.by: labels, **cols}
        write_rows(args.out, cols)
    if args.plot is not None:
        _plot(args, dist, level, res, labels, data)
    t_write = time.perf_counter() - t0

    status = np.asarray(res.status)
    too_small = _too_small(model, res, labels, sizes, args.by)
    G = len(labels)
    dtype = np.asarray(res.loglik).dtype.name
    skipped = table.n_rows - n_used
    rows = f"{n_used:,} rows" + (f" ({skipped:,} with missing values left out)" if skipped else "")
    if args.by:
        out(
            f"jaxmle fit: {dist.name} on {args.data}: {rows}, {G:,} groups by {args.by} "
            f"({sizes.min():,} to {sizes.max():,} rows each), {dtype}"
        )
    else:
        out(f"jaxmle fit: {dist.name} on {args.data}: {rows}, {dtype}")
    if G == 1:
        if too_small:
            out(too_small)
        out(res[0].summary(level, method=args.ci))
        for line in _life_lines(life, level):
            out(line)
    else:
        out(f"  status: {status_counts(status)}")
        if too_small:
            out(too_small)
        out("")
        for line in _table_lines(res, labels, args.by):
            out(line)
        if G > SHOW_GROUPS:
            where = f": all written to {args.out}" if args.out else " (write them all with --out)"
            out(f"... {G - SHOW_GROUPS:,} more groups{where}")
    if args.out is not None and G == 1:
        out(f"written to {args.out}")
    if args.plot is not None:
        out(f"figure saved to {args.plot}")
    out(f"time: read {t_read:.2f} s, fit {t_fit:.2f} s (compilation included), "
        f"write {t_write:.2f} s")  # fmt: skip
    if not (status == 0).any():
        print(
            f"jaxmle: no group converged ({status_counts(status)}); see docs/statuses.md",
            file=sys.stderr,
        )
        return EXIT_NOT_CONVERGED
    return EXIT_OK


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jaxmle`` console script; returns the exit code.

    A user mistake prints one line ``jaxmle: error: ...`` on stderr and returns
    2; see the module docstring for the other exit codes.

    Example:
        >>> from jaxmle.cli import main
        >>> main(["fit", "no-such-file.csv", "--family", "weibull", "--value", "hours"])
        2
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.version:
        print(f"jaxmle {__version__}")
        return EXIT_OK
    if args.command is None:
        print("jaxmle: error: give a command, fit or demo (jaxmle --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "demo":
            if args.sensors < 1:
                raise InputError(f"--sensors must be a positive integer, got {args.sensors}")
            with _jax_settings(float64=not args.float32, use_cache=not args.no_cache):
                return EXIT_OK if demo.run(n_sensors=args.sensors) else EXIT_NOT_CONVERGED
        return _cmd_fit(args)
    except InputError as err:
        print(f"jaxmle: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxmle: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
