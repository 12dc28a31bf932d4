"""The ``jaxmle`` command line.

``jaxmle demo`` fits the worked examples of the maximum-likelihood note and
prints each estimate and standard error beside its closed form.

Example:
    >>> from jaxmle.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    jaxmle ...
    0
"""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, no usage dump
        self.exit(2, f"jaxmle: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="jaxmle", description="Maximum-likelihood estimation with JAX.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="fit the worked examples of the MLE note")
    demo.add_argument(
        "--float32",
        action="store_true",
        help="run in float32 (by default the demo enables float64 for itself)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jaxmle`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.version:
        from . import __version__

        print(f"jaxmle {__version__}")
        return 0
    if args.command == "demo":
        import jax

        if not args.float32:
            jax.config.update("jax_enable_x64", True)
        from .demo import run

        return 0 if run() else 1
    _parser().print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
