"""The ``medvit`` command.

Start-up is kept fast: only argparse and medvit's error types load here; each
sub-command imports what it needs (``info`` never imports torch or MONAI).
"""

from __future__ import annotations

import argparse
import json
import sys

from medvit import __version__
from medvit.errors import MedvitError


def _cmd_info(args: argparse.Namespace) -> int:
    from medvit.io.reader import describe

    infos = [describe(path, args.series) for path in args.paths]
    print(json.dumps(infos[0] if len(infos) == 1 else infos, indent=2))
    return 0


def _cmd_bundles(args: argparse.Namespace) -> int:
    from medvit.bundle.registry import SCHEMA_NAME, bundle_dirs, bundles_root, list_bundles

    bundles = list_bundles()
    if args.check:
        from medvit.bundle.conformance import check_bundle

        schema = bundles_root() / SCHEMA_NAME
        for info, path in zip(bundles, bundle_dirs()):
            info["problems"] = check_bundle(path, schema)
    if args.json:
        print(json.dumps(bundles, indent=2))
    elif not bundles:
        print(f"no bundles in {bundles_root()}")
    else:
        width = max(len(b["name"]) for b in bundles)
        for b in bundles:
            status = ""
            if args.check:
                status = "  OK" if not b["problems"] else "  PROBLEMS: " + "; ".join(b["problems"])
            print(f"{b['name']:<{width}}  {b['version'] or '?':<8}  {b['task'] or ''}{status}")
    if args.check and any(b["problems"] for b in bundles):
        return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from medvit.demo import run_demo

    run_demo(args.out, only=args.only)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medvit",
        description="Medical imaging bundles (MONAI) for hospital data: read, run, export.",
    )
    parser.add_argument("--version", action="version", version=f"medvit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="what medvit reads from an image file or DICOM folder (JSON)")
    info.add_argument("paths", nargs="+", metavar="PATH", help="NIfTI, DICOM file, DICOM series folder, PNG/JPEG/TIFF")
    info.add_argument("--series", metavar="UID", help="which series of a folder holding several (UID or its ending)")
    info.set_defaults(func=_cmd_info)

    bundles = sub.add_parser("bundles", help="list the bundles with version and task")
    bundles.add_argument("--json", action="store_true", help="print JSON")
    bundles.add_argument("--check", action="store_true", help="also check each bundle's conformance (slow)")
    bundles.set_defaults(func=_cmd_bundles)

    demo = sub.add_parser("demo", help="run every bundle end to end on the sample data, offline")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--only", nargs="*", metavar="STEP", help="run only these demo steps")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except MedvitError as err:
        if args.debug:
            raise
        print(f"medvit {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # anything else is a bug, but the user still gets one line
        if args.debug:
            raise
        print(
            f"medvit {args.command}: unexpected error: {type(err).__name__}: {err}\n"
            "  (run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
