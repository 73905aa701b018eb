"""A bundle's inference as MONAI's tools run it, over a cohort.

Every ``inference.json`` defines the model-zoo components and hands them, parsed, to the
cohort runner::

    "network_def":    the network (a MONAI / medvit class with its arguments),
    "network":        {"_target_": "medvit.bundle.load_network", "network": "@network_def", ...},
    "preprocessing":  a Compose of dictionary transforms, starting from LoadImaged,
    "inferer":        a MONAI inferer,
    "postprocessing": a Compose of dictionary transforms that also write the case's outputs,
    "predictor":      {"_target_": "medvit.bundle.CasePredictor", "network": "@network", ...},
    "cohort":         {"_target_": "medvit.bundle.Cohort", "inputs": ..., "output_csv": ...},
    "run":            ["$@cohort.run(@predictor)"]

One case is ``postprocessing(pred = inferer(network, preprocessing({"image": path})["image"]))``,
as MONAI Label's ``BundleInferTask`` and MONAI Deploy's bundle operator run a bundle; the
case's table row is what the transforms put under ``"row"`` (:func:`add_to_row`).
``evaluate.json`` adds an ``evaluation`` Compose applied after ``postprocessing`` (scores
against a reference) and its own table. Overriding any component (``--network_def#...``,
``--inferer#overlap ...``, ``--preprocessing#transforms#N#...``) changes what runs.

Worker processes and Dask workers rebuild the predictor from the raw config of the run
(config files + overrides, a JSON-able dict), once per process; the run's resume fingerprint
is a hash of that config.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser

import medvit.io.monai_reader  # noqa: F401 - quiets MONAI's GPU DICOM reader notices before configs build LoadImaged
from medvit.batch import run_cohort
from medvit.batch.ids import canonical_json, file_sha256
from medvit.batch.worker import unwrap_monai_error, unwrapped_errors
from medvit.bundle.run import bundle_parser
from medvit.errors import MedvitError
from medvit.io.atomic import all_or_nothing
from medvit.nets.checkpoints import describe_network_args, load_state_dict

ROW_KEY = "row"
# Config keys that say how a run is carried out, not what it computes: not in the fingerprint
# (``output_csv``: the table itself, whose rows a resumed run reads, may be written under any name).
RUN_CONTROL_KEYS = ("workers", "scheduler", "progress", "resume", "run", "initialize", "finalize", "output_csv")
# Config keys holding paths that workers elsewhere (Dask) must see as absolute paths.
PATH_KEYS = ("bundle_root", "dataset_dir", "output_dir", "ckpt_path")


def add_to_row(data: Mapping, values: Mapping[str, Any], row_key: str = ROW_KEY) -> dict:
    """A copy of ``data`` whose ``row`` (the case's table columns) also holds ``values``."""
    out = dict(data)
    out[row_key] = {**data.get(row_key, {}), **values}
    return out


def load_network(network, checkpoint: str | os.PathLike | None = None, device: Any = "cpu",
                 loader: Callable | None = None):
    """``network`` with a checkpoint's weights, on ``device``, in eval mode: the bundles' ``network``.

    Args:
        network: the instantiated ``network_def``.
        checkpoint: weights file; None keeps the random initialisation (``--load_pretrain False``).
        device: where the network runs (``torch.device`` or a string).
        loader: ``loader(network, path, map_location=...)`` loads the file (default
            :func:`medvit.nets.load_state_dict`; the ViT bundles map timm / MAE names).

    Raises:
        MedvitError: the checkpoint file does not exist, or does not fit the network (naming the
            ``network_args`` it was trained with, where it carries them).
    """
    device = torch.device(device)
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise MedvitError(f"{checkpoint}: no such checkpoint file; give --ckpt_path FILE, "
                              "or --load_pretrain False to run with random weights")
        try:
            (loader or load_state_dict)(network, os.fspath(checkpoint), map_location=str(device))
        except MedvitError as err:
            raise MedvitError(f"{err}{describe_network_args(checkpoint)}") from None
    return network.to(device).eval()


class CasePredictor:
    """One input → its table row: ``preprocessing`` → ``inferer(image, network)`` → ``postprocessing``
    (→ ``evaluation``).

    Args:
        network: a ``torch.nn.Module`` on ``device`` (see :func:`load_network`); None for a subclass
            that runs none (a k-space baseline).
        preprocessing: dictionary transform(s) taking ``{image_key: path}``.
        inferer: a MONAI ``Inferer`` (``SimpleInferer``, ``SlidingWindowInferer``, ...).
        postprocessing: dictionary transform(s) on the data with ``pred_key`` added; they write
            the case's files and put its columns under ``"row"``.
        evaluation: dictionary transform(s) after postprocessing (``evaluate.json``).
        device: where the image goes before the inferer (the network's device by default).
        amp: autocast (float16 on CUDA, bfloat16 on CPU); None: on CUDA only.
        image_key, pred_key: keys of the network's input and output in the data.
    """

    def __init__(self, network, preprocessing: Callable, inferer: Callable, postprocessing: Callable | None = None,
                 evaluation: Callable | None = None, device: Any = None, amp: bool | None = None,
                 image_key: str = "image", pred_key: str = "pred"):
        self.network = network
        self.preprocessing = preprocessing
        self.inferer = inferer
        self.postprocessing = postprocessing
        self.evaluation = evaluation
        parameter = next(network.parameters(), None) if network is not None else None
        self.device = torch.device(device) if device is not None else (parameter.device if parameter is not None
                                                                       else torch.device("cpu"))
        self.amp = self.device.type == "cuda" if amp is None else bool(amp)
        self.image_key, self.pred_key = image_key, pred_key

    def infer(self, image):
        """The network's output for one channel-first image (C, *spatial) → (C', ...), float32."""
        batch = torch.as_tensor(image)[None].to(self.device)
        with torch.no_grad(), torch.autocast(device_type=self.device.type, enabled=self.amp):
            return self.inferer(batch, self.network)[0].float()

    def predict(self, data: dict):
        """The network's output for one case's preprocessed data (subclasses with other inputs
        than one image, e.g. k-space and its mask, or many network calls per case, override this)."""
        return self.infer(data[self.image_key])

    def process(self, path: str) -> dict:
        """One input's data after postprocessing (and evaluation): the prediction, what the
        transforms added (e.g. masks a viewer draws) and the ``row``. An error of a transform is
        raised as itself, not inside MONAI's wrapper, and the files the case wrote are removed."""
        with unwrapped_errors(), all_or_nothing():  # a case that fails leaves none of its files
            data = dict(self.preprocessing({self.image_key: os.fspath(path)}))
            data[self.pred_key] = self.predict(data)
            for transforms in (self.postprocessing, self.evaluation):
                if transforms is not None:
                    data = transforms(data)
        return data

    def __call__(self, path: str) -> dict:
        return dict(self.process(path).get(ROW_KEY, {}))

    def case_config(self, config: dict) -> dict:
        """The config this predictor's cases are rebuilt from (workers) and fingerprinted by (resume):
        ``config`` itself. A subclass that leaves part of it unused (a baseline that runs no network)
        sets those ids to null, so that they change neither what runs nor what a resumed run reuses."""
        return config

    def describe(self) -> dict:
        """What runs: the network's class, parameter count and device, the inferer and its settings."""
        inferer = {"class": type(self.inferer).__name__}
        for name in ("roi_size", "overlap", "sw_batch_size", "mode"):
            value = getattr(self.inferer, name, None)
            if value is not None:
                inferer[name] = list(value) if isinstance(value, (tuple, list)) else (
                    value if isinstance(value, (int, float, str)) else str(value))
        parameter = next(self.network.parameters(), None)
        return {
            "network": type(self.network).__name__,
            "parameters": int(sum(p.numel() for p in self.network.parameters())),
            "network_device": str(parameter.device) if parameter is not None else str(self.device),
            "device": str(self.device),
            "amp": self.amp,
            "inferer": inferer,
        }


class Cohort:
    """Where a bundle's inputs are and where its table goes: ``run(predictor)`` runs them all.

    Args:
        inputs: the paths (files or folders), one case each.
        output_csv: the cohort table (see :func:`medvit.batch.run_cohort` for the files beside it).
        columns: the result columns in order (None: as the rows give them).
        case_id, root, anonymise: how cases are named (see :func:`medvit.batch.case_ids`).
        workers, scheduler, progress, resume: as :func:`medvit.batch.run_cohort`.
        provenance: facts recorded beside the table (bundle name and version, ...).
        checkpoint: the weights file, whose sha256 goes into the provenance.
    """

    def __init__(self, inputs: Sequence[str | os.PathLike], output_csv: str | os.PathLike,
                 columns: Sequence[str] | None = None, case_id: str = "relative", root: str | os.PathLike | None = None,
                 workers: int = 1, scheduler: Any = None, progress: bool = True, resume: bool = True,
                 anonymise: bool | str = False, provenance: Mapping[str, Any] | None = None,
                 checkpoint: str | os.PathLike | None = None):
        self.inputs = [os.fspath(p) for p in inputs]
        self.output_csv = Path(output_csv)
        self.columns = list(columns) if columns is not None else None
        self.case_id, self.root = case_id, (os.fspath(root) if root is not None else None)
        self.workers, self.scheduler, self.progress, self.resume = int(workers), scheduler, progress, resume
        self.anonymise = anonymise
        self.provenance = dict(provenance or {})
        self.checkpoint = os.fspath(checkpoint) if checkpoint else None

    def run(self, predictor: CasePredictor, predictor_id: str = "predictor"):
        """Run ``predictor`` on every input; returns the table (pandas DataFrame).

        Inside ``python -m monai.bundle run`` the case function is rebuilt from the run's config
        where it runs (:func:`predict_case`); called from Python with hand-made components,
        the predictor object itself is sent to the workers.
        """
        provenance = {**self.provenance, **predictor.describe()}
        if self.root is not None:  # where the inputs are: the viewer finds a run's images by it
            provenance["dataset_dir"] = os.path.abspath(self.root)
        if self.checkpoint:
            provenance["checkpoint_sha256"] = file_sha256(self.checkpoint)
        config = active_config()
        if config is not None:
            # run-control keys (workers, ...) left out: they change neither a result nor the fingerprint
            config = predictor.case_config({k: v for k, v in portable_config(config).items() if k not in RUN_CONTROL_KEYS})
            settings = {"config": config, "predictor_id": predictor_id}
            key = _predictor_key(settings["config"], predictor_id)
            _PREDICTORS[key] = predictor  # this process: no rebuild
            case_fn = predict_case
        else:
            key, settings, case_fn = None, {}, predictor
        try:
            table = run_cohort(self.inputs, case_fn, self.output_csv, settings, columns=self.columns,
                               workers=self.workers, scheduler=self.scheduler, case_id=self.case_id, root=self.root,
                               anonymise=self.anonymise, resume=self.resume, progress=self.progress,
                               provenance=provenance)
        finally:
            _PREDICTORS.pop(key, None)  # a long-lived process (viewer, demo) keeps no network of a finished run
        line = summary_line(table, self.output_csv)
        if (table["status"] == "ok").any() or table.empty:
            print(line, flush=True)
            return table
        raise MedvitError(line)


def summary_line(table, output_csv: str | os.PathLike) -> str:
    """``"3 ok, 1 failed (first error: case_2: ...); table: out/volumes.csv"`` for a cohort table."""
    ok = int((table["status"] == "ok").sum())
    failed = table[table["status"] != "ok"]
    line = f"{ok} ok, {len(failed)} failed"
    if len(failed):
        line += f" (first error: {failed.iloc[0]['image']}: {failed.iloc[0]['error']})"
    return f"{line}; table: {output_csv}"


def _one_line_errors(kind, error, trace, previous=sys.excepthook):
    """``sys.excepthook`` under ``python -m monai.bundle run``: an error of medvit about the user's
    input or settings, however deep MONAI wrapped it, is one line (no 70-line traceback);
    anything else is printed as usual."""
    cause = unwrap_monai_error(error) if isinstance(error, Exception) else error
    if isinstance(cause, MedvitError):
        print(f"error: {cause}", file=sys.stderr)
        return
    previous(kind, error, trace)


def install_cli_excepthook() -> None:
    """Use :func:`_one_line_errors` when this process is ``python -m monai.bundle`` (medvit's
    configs import this module): a user's mistake there is one line, exit status 1."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", "") in ("monai.bundle.__main__", "monai.bundle"):
        sys.excepthook = _one_line_errors


install_cli_excepthook()


# -- rebuilding the components where the cases run ---------------------------------------------

_PREDICTORS: dict[str, Any] = {}


def _predictor_key(config: Mapping, predictor_id: str) -> str:
    return canonical_json([config, predictor_id])


def predict_case(path: str, *, config: dict, predictor_id: str = "predictor") -> dict:
    """The cohort runner's case function: the config's predictor (built once per process) on one input."""
    key = _predictor_key(config, predictor_id)
    predictor = _PREDICTORS.get(key)
    if predictor is None:
        predictor = parse_component(config, predictor_id)
        _PREDICTORS.clear()  # one bundle's network per worker at a time
        _PREDICTORS[key] = predictor
    return predictor(path)


def parse_component(config: Mapping, component_id: str):
    """``ConfigParser(config).get_parsed_content(component_id)``."""
    return ConfigParser(copy.deepcopy(dict(config))).get_parsed_content(component_id)


def active_config() -> dict | None:
    """The raw config (files + overrides, macros resolved) of the ``ConfigParser`` evaluating the
    expression that called this, or None outside one.

    MONAI's ``ConfigWorkflow`` gives an expression no handle on its own parser, so it is found
    on the call stack: the ``get_parsed_content`` frame that is evaluating ``run``.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            owner = frame.f_locals.get("self")
            if isinstance(owner, ConfigParser) and frame.f_code.co_name == "get_parsed_content":
                return copy.deepcopy(owner.get())
            frame = frame.f_back
    finally:
        del frame
    return None


def portable_config(config: Mapping) -> dict:
    """``config`` with its path keys made absolute (workers may start elsewhere), JSON-checked."""
    out = copy.deepcopy(dict(config))
    for key in PATH_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value and not value.startswith(("$", "@", "%")):
            out[key] = os.path.abspath(value)
    try:
        json.dumps(out)
    except (TypeError, ValueError) as err:
        raise MedvitError(f"the bundle's config (with its overrides) is not JSON, so workers cannot rebuild it: {err}") from None
    return out


@functools.lru_cache(maxsize=4)
def _bundle_component(bundle: str, config: str, component_id: str, overrides_json: str):
    return bundle_parser(Path(bundle), config, **json.loads(overrides_json)).get_parsed_content(component_id)


def bundle_component(bundle: str | os.PathLike, component_id: str, config: str = "inference.json", **overrides):
    """A parsed component of a bundle's config (e.g. its ``network`` with weights), built once per
    process for each (bundle, config, component, overrides): the viewer's and the demo's one
    cached loader. ``overrides``: config ids → JSON values."""
    try:
        key = json.dumps(overrides, sort_keys=True)
    except TypeError:
        raise MedvitError(f"overrides must be JSON values: {overrides!r}") from None
    with unwrapped_errors():
        return _bundle_component(os.fspath(bundle), config, component_id, key)
