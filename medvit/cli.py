"""The ``medvit`` command.

Start-up is kept fast: only argparse and medvit's error types load here; each
sub-command imports what it needs (``info`` never imports torch or MONAI).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from medvit import __version__
from medvit.errors import MedvitError


def _cmd_info(args: argparse.Namespace) -> int:
    from medvit.io.reader import describe

    if len(args.paths) == 1:
        print(json.dumps(describe(args.paths[0], args.series), indent=2))
        return 0
    # several paths: every one that reads is described; each that does not is one line on stderr
    infos, failed = [], 0
    for path in args.paths:
        try:
            infos.append(describe(path, args.series))
        except MedvitError as err:
            print(f"medvit info: error: {err}", file=sys.stderr)
            failed += 1
    print(json.dumps(infos, indent=2))
    return 1 if failed else 0


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


def _cmd_biomarkers(args: argparse.Namespace) -> int:
    from medvit.pvbm.cohort import run_biomarker_cohort

    # only the settings given: the others are multifractal_biomarkers' defaults (pvbm's tutorial values)
    fractal = {"n_rotations": args.n_rotations, "optimize": False if args.no_optimize else None,
               "min_proba": args.min_proba, "max_proba": args.max_proba}
    table = run_biomarker_cohort(
        args.folder, args.out, masks_dir=args.masks, disc_csv=args.disc, segmentation=args.segmentation,
        checkpoint=args.checkpoint, definitions=args.definitions, roi_radius=args.roi_radius,
        pixel_size_um=args.pixel_size_um, fov_mm=args.fov_mm, region=args.region, measures=args.measures,
        classify_av=args.classify_av, fractal={k: v for k, v in fractal.items() if v is not None},
        overlay_dir=args.overlays,
        workers=args.workers, scheduler=args.scheduler, anonymise=args.salt or args.anonymise,
        resume=not args.restart, progress=not args.quiet,
    )
    failed = table[table["status"] != "ok"]
    _print_failures(failed, "biomarkers")
    print(f"{len(table) - len(failed)} image(s) measured, {len(failed)} failed -> {args.out}")
    return 0 if len(failed) < len(table) else 1


def _cmd_recon_score(args: argparse.Namespace) -> int:
    import pandas as pd

    from medvit.cmrxrecon.evaluation import score_submissions

    table, summary = score_submissions(args.pred_dir, args.ref_dir, args.out, workers=args.workers,
                                       resume=not args.restart, progress=not args.quiet)
    failed = table[table["status"] != "ok"]
    scores = pd.read_csv(summary)
    if not scores.empty:
        print(scores.to_string(index=False))
    _print_failures(failed, "recon-score")
    print(f"{len(table) - len(failed)} file(s) scored, {len(failed)} failed -> {args.out}, {summary}")
    return 0 if len(failed) < len(table) else 1


def _print_failures(failed, command: str, shown: int = 10) -> None:
    """Each failed row's reason, one line each on stderr (the first ``shown``; the rest are in the table)."""
    for row in failed.head(shown).itertuples():
        print(f"medvit {command}: {row.image}: {row.error}", file=sys.stderr)
    if len(failed) > shown:
        print(f"medvit {command}: ... and {len(failed) - shown} more failed (the table's error column)", file=sys.stderr)


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

    bio = sub.add_parser(
        "biomarkers",
        help="retinal vessel biomarkers (PVBM) of every fundus photo in a folder -> one CSV row each",
        description="Fundus photos -> vessel mask -> optic disc -> PVBM biomarkers, one CSV row per image. "
        "Re-running skips images already done with the same settings; a bad image gets an error row.",
    )
    bio.add_argument("folder", help="folder of fundus photographs (searched recursively)")
    bio.add_argument("--out", required=True, help="the cohort CSV to write")
    bio.add_argument("--masks", metavar="DIR", help="precomputed vessel or artery/vein masks, matched by file stem")
    bio.add_argument("--disc", metavar="CSV", help="optic disc overrides: columns image, x, y, radius")
    bio.add_argument("--definitions", choices=("pvbm", "corrected"), default="pvbm",
                     help="pvbm: pvbm 3.0.1.8's numbers (default); corrected: each skeleton pixel walked once")
    bio.add_argument("--roi-radius", type=float, metavar="PX", help="measure only within this distance of the disc "
                     "centre (pvbm used 600 px on 1444-px photos); default: the whole field of view")
    scale = bio.add_mutually_exclusive_group()
    scale.add_argument("--pixel-size-um", type=float, metavar="UM", help="pixel size, adds *_mm columns")
    scale.add_argument("--fov-mm", type=float, metavar="MM", help="field-of-view diameter in mm, gives the pixel size")
    bio.add_argument("--segmentation", choices=("classical", "network"),
                     help="classical (default; no weights) or network (--checkpoint); with --masks: the masks")
    bio.add_argument("--checkpoint", metavar="FILE", help="vessel network checkpoint for --segmentation network")
    bio.add_argument("--overlays", metavar="DIR", help="write an overlay PNG per image there")
    bio.add_argument("--region", choices=("outside_disc", "zone_b", "zone_c"),
                     help="where pvbm's biomarkers are measured: outside the disc (default, pvbm's), zone B "
                     "(2r-3r from the disc centre) or zone C (2r-5r)")
    bio.add_argument("--measures", choices=("all", "pvbm"), default="all",
                     help="all (default): pvbm's biomarkers, the fovea and AutoMorph's per-zone measures; "
                     "pvbm: pvbm's columns only (faster)")
    bio.add_argument("--classify-av", action="store_true",
                     help="without A/V masks, classify the vessels into arteries and veins (classical, from the "
                     "photo's colour) for CRAE, CRVE and AVR (about 1.5 s per 1411-px photo more)")
    bio.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    bio.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (tcp://HOST:PORT or tls://...)")
    bio.add_argument("--anonymise", action="store_true", help="random case ids; the mapping goes to a separate file")
    bio.add_argument("--salt", help="salted-hash case ids (sha256(salt + name)); mapping in a separate file")
    bio.add_argument("--restart", action="store_true", help="ignore earlier results in --out and start over")
    bio.add_argument("--quiet", action="store_true", help="no progress bar")
    fractal = bio.add_argument_group("multifractal settings (pvbm's tutorial values by default)")
    fractal.add_argument("--n-rotations", type=int, help="rotated copies of the mask to choose from")
    fractal.add_argument("--no-optimize", action="store_true", help="use the unrotated mask only")
    fractal.add_argument("--min-proba", type=float, help="least box occupancy counted")
    fractal.add_argument("--max-proba", type=float, help="largest box occupancy counted")
    bio.set_defaults(func=_cmd_biomarkers)

    score = sub.add_parser(
        "recon-score",
        help="score CMRxRecon submissions (img4ranking) against references: PSNR, SSIM, NMSE -> CSV",
        description="Every img4ranking file under PRED_DIR (challenge layout) against the file at the same place "
        "under REF_DIR, or that case's FullSample k-space there (RSS of the ranked slices and frames). "
        "Central 2 slices, first 3 cine frames / all weightings, centre crop, as the challenge scored.",
    )
    score.add_argument("pred_dir", help="submission tree: MultiCoil|SingleCoil/Cine|Mapping/<split>/AccFactorRR/P###/*.mat")
    score.add_argument("ref_dir", help="reference tree: img4ranking files, or the challenge's data with FullSample")
    score.add_argument("--out", default="recon_scores.csv", help="per-file CSV (default: recon_scores.csv)")
    score.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    score.add_argument("--restart", action="store_true", help="ignore earlier results in --out and start over")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=_cmd_recon_score)

    viewer = sub.add_parser("viewer", help="start the clinician viewer (localhost only, no error details)")
    viewer.add_argument("--port", type=int, help="port (default: Streamlit's, 8501)")
    viewer.add_argument("--address", help="listen on this address instead of localhost (put an authenticating "
                                          "reverse proxy in front: the pages show patient data)")
    viewer.add_argument("streamlit_args", nargs=argparse.REMAINDER, help="further `streamlit run` flags")
    viewer.set_defaults(func=_cmd_viewer)

    demo = sub.add_parser("demo", help="run every bundle end to end on the sample data, offline")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--step", "--only", dest="only", nargs="+", metavar="STEP",
                      help="run only these steps, e.g. --step brats-swin-unetr (--only: the same; "
                           "an unknown name lists them)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def _cmd_viewer(args) -> int:
    import subprocess

    from medvit.viewer.launch import streamlit_command

    return subprocess.call(streamlit_command(args.port, args.address, args.streamlit_args))


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
    except KeyboardInterrupt as err:
        # a cohort run has written the rows finished so far and its provenance: re-running resumes
        signum = getattr(err, "signum", signal.SIGINT)
        print(f"medvit {args.command}: interrupted ({signal.Signals(signum).name}); "
              "what finished is kept, run the same command again to resume", file=sys.stderr)
        return 128 + signum
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
