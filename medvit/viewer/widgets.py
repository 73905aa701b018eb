"""Streamlit pieces the pages share: choosing a study, cached loading, readable errors.

This is the only module of :mod:`medvit.viewer` that imports Streamlit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from medvit.batch.worker import error_message
from medvit.errors import MedvitError
from medvit.viewer.samples import sample_available, sample_notes, sample_origin
from medvit.viewer.samples import sample_output as make
from medvit.viewer.studies import OUTPUT_TABLES, find_output_table, locate_input, save_upload, upload_title
from medvit.viewer.studies import open_output as opener
from medvit.viewer.uploads import remove_ended_sessions, remove_stale_servers, session_folder, uploads_root

PAGE_FILES = {
    "volume": "views/1_Brain_tumour.py",
    "fundus": "views/2_Fundus.py",
    "cxr": "views/3_Chest_X-ray.py",
    "recon": "views/4_Reconstruction.py",
    "cohort": "views/5_Cohort.py",
}
SAMPLE, FOLDER, UPLOAD = "Sample results", "Output folder", "Upload a file"
NOT_CLINICAL = "Research software, not for clinical use."


def header(title: str, caption: str) -> None:
    """Page settings, title and the one-line caption every page has (and the uploads' housekeeping)."""
    st.set_page_config(page_title=f"{title} · medvit", layout="wide")
    remove_old_uploads()
    st.title(title)
    st.caption(f"{caption} {NOT_CLINICAL}")


log = logging.getLogger("medvit.viewer")


def synced(key: str, default) -> str:
    """A widget key whose value the server sends to the browser on every run; make the widget
    with this key and no default (``index`` / ``value``) of its own.

    Streamlit keeps a keyed widget's value on the server while the widget is not drawn (the
    page stopped above it, another source was chosen), but the browser draws it anew with its
    default: the control then shows its default while the old value is applied. A value written
    to the session state before the widget is made goes to the browser with it, so the two
    agree. The value starts as ``default``."""
    st.session_state[key] = st.session_state.get(key, default)
    return key


def remembered(key: str, default) -> str:
    """A :func:`synced` key whose value outlives its widget being hidden: Streamlit forgets a
    widget's value after a run that does not draw it, so a field shown again (a checkpoint path
    after "none" was chosen) would come back empty. Its last value is kept under a key of its own."""
    kept = f"_kept_{key}"
    st.session_state[kept] = st.session_state.get(key, st.session_state.get(kept, default))
    return synced(key, st.session_state[kept])


def identity_key(*identity) -> str:
    """A short id of what a widget is made for (a table, a study: its name, shape...), to put in its
    key: the widget then starts anew for another one instead of carrying a value over."""
    return hashlib.sha256(repr(identity).encode()).hexdigest()[:10]


@contextlib.contextmanager
def readable_errors():
    """Show what went wrong as one line and stop the page (the app runs on); never a traceback.

    The user's input failing (MedvitError, OSError, ValueError, ...) says why, without the
    server's folders; anything else is logged with its traceback on the server and the browser
    gets only its type."""
    try:
        yield
    except Exception as error:  # st.stop() / reruns are BaseExceptions: they pass  # the page boundary: whatever it is, the browser gets one line
        st.error(f"Cannot open this: {user_message(error)}")
        if not isinstance(error, (MedvitError, OSError, ValueError, KeyError)):
            log.exception("viewer page failed")
        st.stop()


def user_message(error: BaseException) -> str:
    """One line for the browser: the error's first line, the server's upload folder removed
    (an upload is named by its own name), an OSError by its reason."""
    if isinstance(error, OSError) and not isinstance(error, MedvitError) and error.strerror:
        name = Path(error.filename).name if error.filename else ""
        text = f"{name}: {error.strerror}" if name else error.strerror
    else:
        text = error_message(error)
    return text.replace(str(uploads_root()) + "/", "").replace(str(uploads_root()), "")


@st.cache_resource(show_spinner=False)
def _server_start() -> bool:
    """Once per server: the uploads of viewer servers that are gone are deleted."""
    remove_stale_servers()
    return True


def remove_old_uploads() -> None:
    """Delete the uploads of ended sessions (Streamlit has no hook at a session's end: each page
    run looks) and, once per server, of servers no longer running."""
    from streamlit.runtime import Runtime

    _server_start()
    if Runtime.exists():
        remove_ended_sessions(Runtime.instance().is_active_session)


def upload_dir() -> Path:
    """This session's private folder for uploads (see :mod:`medvit.viewer.uploads`)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return session_folder(get_script_run_ctx().session_id)


def choose_source(page: str, upload_types: list[str] | None, sample_label: str = SAMPLE) -> str:
    """The sidebar's "what to show" choice (:func:`open_case` sets it for a click-through)."""
    options = [sample_label, FOLDER] + ([UPLOAD] if upload_types else [])
    return st.sidebar.radio("Show", options, key=synced(f"{page}_source", sample_label))


def output_folder_input(page: str) -> str:
    """Text input for a bundle's output folder."""
    folder = st.sidebar.text_input("Output folder of a bundle run", key=synced(f"{page}_folder", ""),
                                   help="The folder given as --output_dir (it holds the bundle's CSV table).")
    return folder.strip()


def open_case(page: str, folder: str, image: str) -> None:
    """Go to ``page`` showing case ``image`` of the output folder ``folder`` (the Cohort page's
    click-through): the target page's controls are set to it, so they show what is opened."""
    st.session_state[f"{page}_source"] = FOLDER
    st.session_state[f"{page}_folder"] = folder
    st.session_state[f"{page}_case"] = image
    st.switch_page(PAGE_FILES[page])


def uploaded_path(page: str, types: list[str], label: str) -> Path | None:
    """The uploaded file saved (zip extracted) in the session's folder, or None before an upload."""
    upload = st.sidebar.file_uploader(label, type=types, key=f"{page}_upload")
    if upload is None:
        return None
    # saved once per upload, not on every rerun: a rewrite would change the file's mtime, which
    # the pages' caches are keyed on (and re-hash / re-extract up to 1 GB each time)
    saved = st.session_state.setdefault("saved_uploads", {})
    if upload.file_id not in saved or not saved[upload.file_id].exists():
        from medvit.viewer.studies import MAX_ZIP_BYTES
        from medvit.viewer.uploads import check_session_quota

        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()[:16]
        with readable_errors():
            folder = upload_dir()
            left = check_session_quota(folder, len(data))
            saved[upload.file_id] = path = save_upload(upload.name, data, folder / digest,
                                                       max_bytes=min(left, MAX_ZIP_BYTES))
            st.session_state.setdefault("upload_titles", {})[str(path)] = upload_title(upload.name, path)
    return saved[upload.file_id]


def upload_name(path: Path) -> str:
    """What an upload saved by :func:`uploaded_path` is called on its page (see
    :func:`medvit.viewer.studies.upload_title`): the zip's name for a DICOM series, not the
    folder it was extracted to."""
    return st.session_state.get("upload_titles", {}).get(str(path), path.name)


@st.cache_resource(show_spinner=False, max_entries=3)
def sample_output(page: str):
    """The page's sample output folder, made once per server (see :mod:`medvit.viewer.samples`)."""
    return make(page)


# what each page's sample is and where its input comes from, for the banner above it
SAMPLE_DESCRIPTIONS = {
    "volume": "a synthetic brain tumour case (BraTS-like MRI series on the MNI152 template's anatomy, from nilearn) "
              "segmented by the Swin UNETR bundle",
    "fundus": "the retina photograph of scikit-image (a real fundus photograph, `skimage.data.retina`) measured by "
              "the PVBM bundle",
    "cxr": "chest X-rays (synthetic radiograph phantoms of `medvit.thorax.phantoms`) classified by the MAE thorax "
           "bundle",
}


def sample_banner(page: str) -> None:
    """One sentence saying what the sample is and where it came from; how it was made (the demo
    step's own words) in an expander below."""
    st.info(f"Sample results: {SAMPLE_DESCRIPTIONS[page]}, {sample_origin(page)}. Open your own study in the sidebar.")
    notes = sample_notes(page)
    if notes:
        with st.expander("How the sample was made"):
            # the lines naming the files written are left out: they are the server's folders
            st.markdown("\n".join(f"- {line}" for line in notes.splitlines() if line.strip()
                                   and not line.startswith("wrote ")))


def sample_or_prompt(page: str, making: str) -> Path:
    """The sample's output folder, made now (with a spinner saying what happens) when missing;
    without a way to make it, a prompt to open a study and the page stops."""
    if not sample_available(page):
        st.info("No sample results for this page yet. Open a study in the sidebar: an output folder of the "
                "bundle, or an uploaded file.")
        st.stop()
    with st.spinner(making):
        folder = sample_output(page)
    if folder is None:
        st.info("No sample results for this page. Open a study in the sidebar.")
        st.stop()
    return folder


@st.cache_data(show_spinner=False, max_entries=16)
def open_output(folder: str, expect: str | None, mtime: float):
    """A bundle's output folder (cached; ``mtime`` of its table makes a re-run reload)."""
    return opener(folder, expect)


def output_table_mtime(folder: str) -> float:
    with readable_errors():
        return find_output_table(folder).stat().st_mtime


def case_picker(output, page: str, include_failed: bool = False) -> str:
    """Select box over the table's successful rows (and its failed ones, marked, where the page
    can show why they failed); the failed ones are listed with their error."""
    ok = output.table[output.table["status"] == "ok"]
    failed = output.failed()
    if len(failed):
        with st.sidebar.expander(f"{len(failed)} failed case(s)"):
            for _, row in failed.iterrows():
                st.write(f"**{row['image']}**: {row['error']}")
    if ok.empty and not include_failed:
        st.error(f"{output.table_path}: no case of this run succeeded; see the failed cases in the sidebar.")
        st.stop()
    images = list(ok["image"]) + (list(failed["image"]) if include_failed else [])
    marked = set(failed["image"])
    # a case of another study is not kept: the first case of this one is shown, and the box says so
    return st.sidebar.selectbox("Case", images, key=synced(f"{page}_case", images[0]),
                                format_func=lambda image: f"{image} (failed)" if image in marked else image)


def weights_warning(row) -> None:
    weights = str(row.get("weights", ""))
    if weights.startswith("random"):
        st.warning("These results come from a network with **random weights** (no checkpoint was given): "
                   "they show the pipeline, not a finding.")


UNCHECKED = "Not checked: this row has no QC measures (a run of an older medvit, or with the check turned off)."


def qc_panel(measures, flags: list[str], passed: str, heading: str = "Quality control") -> None:
    """The case's quality control: each flag as a warning (or ``passed`` as a success line when
    there is none; :data:`UNCHECKED` when there is nothing measured either), then its measures
    with their units and the range the method expects (:func:`medvit.viewer.qc.qc_measures`)."""
    st.subheader(heading)
    for flag in flags:
        st.warning(flag, icon=":material/warning:")
    if not flags and len(measures):
        st.success(passed, icon=":material/check_circle:")
    elif not flags:
        st.info(UNCHECKED)
    if len(measures):
        # the CSV column each line comes from stays in the data (the download, tests) but not on screen
        st.dataframe(measures, hide_index=True, key="qc_measures", column_config={"column": None})


@dataclass
class Opened:
    """What a case page shows: the input (a file, or a case folder) and, from a bundle's output
    folder, that folder and the case's row."""

    path: Path
    name: str
    output: object = None  # medvit.viewer.studies.OutputFolder
    row: object = None  # pandas Series


def open_study(page: str, *, bundle: str, upload_types: list[str], upload_label: str, upload_prompt: str,
               making: str, inputs: str, include_failed: bool = False) -> Opened:
    """The sidebar's study choice for a case page, resolved to the input to show.

    Sample results (made on first use), a bundle's output folder (its case picked from the table,
    the input found beside it or in a folder the user names) or an upload. Anything missing stops
    the page with a prompt; anything unreadable with a message.

    Args:
        bundle: the bundle whose output folders the page shows (for the prompt).
        upload_types, upload_label, upload_prompt: the uploader's suffixes, label and empty-state text.
        making: what the spinner says while the sample is made.
        inputs: what the inputs are called ("Photographs", ...), for the folder box.
        include_failed: offer the table's failed rows in the Case box too (the page shows their error).
    """
    source = choose_source(page, upload_types)
    with readable_errors():
        if source == UPLOAD:
            path = uploaded_path(page, upload_types, upload_label)
            if path is None:
                st.info(upload_prompt)
                st.stop()
            return Opened(path, upload_name(path))
        if source == SAMPLE:
            folder = sample_or_prompt(page, making)
            sample_banner(page)
        else:
            folder = output_folder_input(page)
            if not folder:
                table = next(name for name, p in OUTPUT_TABLES.items() if p == page)
                st.info(f"Enter the output folder of a `{bundle}` run (it holds {table}) in the sidebar.")
                st.stop()
        output = open_output(str(folder), page, output_table_mtime(str(folder)))
        name = case_picker(output, page, include_failed)
        row = output.table[output.table["image"] == name].iloc[0]
        root = st.sidebar.text_input(f"{inputs} folder (when not found)", key=synced(f"{page}_root", ""),
                                     help="The run's --dataset_dir.")
        path = locate_input(output, name, root or None)
        if path is None:
            st.error(f"The input of {name} was not found. Give the run's {inputs.lower()} folder (its --dataset_dir) "
                     "in the sidebar.")
            st.stop()
    weights_warning(row)
    return Opened(path, name, output, row)


TOY_NETWORK, CHECKPOINT_FILE = "the demo's toy network", "checkpoint file"


def network_choice(label: str, key: str, toy, arguments, checkpoint_label: str, help: str) -> tuple[str, str]:
    """A sidebar choice of network: none, the demo's toy network, or a checkpoint file.

    Args:
        label, help: the radio's label and help text.
        key: prefix of the widgets' keys (``<key>_source``, ``<key>_ckpt``).
        toy: ``() → (checkpoint, arguments JSON) | None``, training the toy once on first use.
        arguments: ``() → arguments JSON`` for a checkpoint file (asks for them in the sidebar).
        checkpoint_label: the checkpoint path field's label.

    Returns:
        ``(checkpoint path, constructor arguments as JSON)``; ``("", "{}")`` for none.
    """
    choice = st.sidebar.radio(label, ["none", TOY_NETWORK, CHECKPOINT_FILE], key=synced(f"{key}_source", "none"),
                              help=help)
    if choice == TOY_NETWORK:
        with st.spinner("Training the demo's toy network (once)..."):
            return toy() or ("", "{}")
    if choice == CHECKPOINT_FILE:
        return st.sidebar.text_input(checkpoint_label, key=remembered(f"{key}_ckpt", "")).strip(), arguments()
    return "", "{}"


_PLANE_VIEWER = None


def plane_viewer(data: dict, key: str, on_scroll, on_probe):
    """The three planes as one element that reports wheel turns and clicks (see
    :mod:`medvit.viewer.plane_view`); ``on_scroll`` / ``on_probe`` run before the rerun, with the
    event in ``st.session_state[key]``."""
    global _PLANE_VIEWER
    if _PLANE_VIEWER is None:  # registered once per process; Streamlit re-attaches it to each runtime
        from medvit.viewer.plane_view import CSS, JS

        _PLANE_VIEWER = st.components.v2.component("medvit_plane_viewer", js=JS, css=CSS)
    return _PLANE_VIEWER(data=data, key=key, on_scroll_change=on_scroll, on_probe_change=on_probe)
