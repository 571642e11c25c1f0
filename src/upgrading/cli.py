"""The `upgrading` command line: one subcommand per step a user or reviewer takes.

Problems a user can fix are printed as one paragraph with a non-zero exit and no traceback (add --debug
to see it); each subcommand is a thin wrapper around a package function that notebooks call too.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time

from .errors import UpgradingError

EXIT_USER_ERROR = 2


def _cmd_run(args: argparse.Namespace) -> int:
    from . import pipeline

    only = [k for item in args.only or [] for k in item.split(",") if k.strip()]
    start = time.perf_counter()
    results = pipeline.run(only=only, kernel=args.kernel, debug=args.debug, progress=not args.quiet)
    exhibits = sum(len(r.exhibits) for r in results)
    print(f"ran {len(results)} notebooks in {time.perf_counter() - start:.1f} s; {exhibits} exhibits written")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upgrading",
        description="Reproducible compendium: SME upgrading, collective efficiency and value-chain "
                    "governance in Latin American clusters.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="execute the numbered notebooks in order, writing every exhibit",
                         description="Execute notebooks/NN_*.ipynb in number order with papermill, in place. "
                                     "A failing notebook stops the run and leaves its committed copy and "
                                     "exhibits untouched.")
    run.add_argument("--only", action="append", metavar="NN",
                     help="run only these notebooks, by number or name (repeat or comma-separate)")
    run.add_argument("--kernel", default=None, help="Jupyter kernel to use (default: python3 of this environment)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    run.set_defaults(handler=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UpgradingError as error:
        if args.debug:
            raise
        message = textwrap.fill(f"upgrading {args.command}: error: {error}", width=100,
                                break_long_words=False, break_on_hyphens=False, replace_whitespace=False) \
            if "\n" not in str(error) else f"upgrading {args.command}: error: {error}"
        print(message, file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"upgrading {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
