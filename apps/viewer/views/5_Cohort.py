"""Cohort page: a bundle's table (volumes, biomarkers, predictions) to sort, filter and plot,
its failed cases with their error, and a click-through to a case's page."""

import streamlit as st

from medvit.viewer import widgets as w
from medvit.viewer.qc import FLAGS, flagged, qc_columns
from medvit.viewer.studies import OUTPUT_TABLES, group_columns, numeric_columns

PAGE = "cohort"
w.header("Cohort", "One row per case, as the bundles write them.")


@st.cache_data(show_spinner=False, max_entries=8)
def read_table(path: str, mtime: float):
    from medvit.viewer.studies import read_cohort_table

    return read_cohort_table(path)


SOURCES = [w.SAMPLE, "Output folder or CSV path", "Upload a CSV"]
source = st.sidebar.radio("Show", SOURCES, key=w.synced("cohort_source", w.SAMPLE))
output = None
with w.readable_errors():
    if source == w.SAMPLE:
        from medvit.viewer.samples import sample_available

        samples = {"Brain tumour volumes (volumes.csv)": "volume", "Fundus biomarkers (biomarkers.csv)": "fundus",
                   "Chest X-ray findings (predictions.csv)": "cxr"}
        samples = {label: page for label, page in samples.items() if sample_available(page)}
        choice = st.sidebar.selectbox("Sample table", list(samples), key=w.synced("cohort_sample", next(iter(samples))))
        folder = w.sample_or_prompt(samples[choice], "Making the sample once (a few minutes for the brain tumour "
                                                     "sample: a toy network is trained first)...")
        output = w.open_output(str(folder), None, w.output_table_mtime(str(folder)))
        table, name = output.table, output.table_path.name
    elif source == SOURCES[1]:
        path = st.sidebar.text_input("Output folder or CSV file", key=w.synced("cohort_path", "")).strip()
        if not path:
            st.info("Enter a bundle's output folder or a cohort CSV (columns image, status, error, then results) "
                    "in the sidebar, or upload a CSV.")
            st.stop()
        from pathlib import Path

        if Path(path).is_file() and Path(path).name in OUTPUT_TABLES:  # a bundle's table: open its run
            path = str(Path(path).parent)
        if Path(path).is_dir():
            output = w.open_output(path, None, w.output_table_mtime(path))
            table, name = output.table, output.table_path.name
        else:
            table, name = read_table(path, Path(path).stat().st_mtime), Path(path).name
    else:
        csv = w.uploaded_path(PAGE, ["csv"], "Cohort CSV")
        if csv is None:
            st.info("Upload a cohort CSV in the sidebar.")
            st.stop()
        table, name = read_table(str(csv), csv.stat().st_mtime), csv.name

ok = table[table["status"] == "ok"]
failed = table[table["status"] != "ok"]
has_flags = FLAGS in table.columns
marked = flagged(table)
counts = st.columns(4 if has_flags else 3)
counts[0].metric("Cases", len(table))
counts[1].metric("Succeeded", len(ok))
counts[2].metric("Failed", len(failed))
if has_flags:
    counts[3].metric("QC flagged", int(marked.sum()), help="Rows whose qc_flags hold a warning (their status stays ok).")

# --- filters ------------------------------------------------------------------------------------------
# Each table has its own filters (the keys name it): a filter set on another table (its statuses,
# its columns' ranges) is never applied to this one while the controls show something else.
st.sidebar.subheader("Filters")
table_id = w.identity_key(name, list(table.columns), len(table))
statuses = sorted(table["status"].unique())  # an empty status is read as its own ("(no status)")
keep = st.sidebar.multiselect("Status", statuses, key=w.synced(f"status_filter_{table_id}", statuses))
QC_CHOICES = ("all rows", "flagged only", "not flagged")
qc_choice = st.sidebar.radio("QC flags", QC_CHOICES, key=w.synced(f"qc_filter_{table_id}", QC_CHOICES[0]),
                             horizontal=True) if has_flags else QC_CHOICES[0]
text = st.sidebar.text_input("Case name contains", key=w.synced(f"name_filter_{table_id}", ""))
numbers = numeric_columns(table)
filtered = table[table["status"].isin(keep)]
if qc_choice != QC_CHOICES[0]:
    filtered = filtered[marked.loc[filtered.index] == (qc_choice == QC_CHOICES[1])]
if text:
    filtered = filtered[filtered["image"].astype(str).str.contains(text, case=False, regex=False)]
if numbers:
    column = st.sidebar.selectbox("Range of", numbers, key=w.synced(f"range_column_{table_id}", numbers[0]))
    values = table[column].dropna()
    if len(values) and values.min() < values.max():
        whole = (float(values.min()), float(values.max()))
        low, high = st.sidebar.slider("Range", *whole, key=w.synced(f"range_{column}_{table_id}", whole))
        filtered = filtered[filtered[column].isna() | filtered[column].between(low, high)]

st.subheader(f"{name}: {len(filtered)} of {len(table)} rows")
shown = filtered.drop(columns=[c for c in ("settings_hash", "input_hash") if c in filtered.columns])
# the cohort columns and the QC ones first: a flag is read beside the case it warns about
qc = qc_columns(shown.columns)
first = [c for c in ("image", "status", *qc, "error") if c in shown.columns]
shown = shown[first + [c for c in shown.columns if c not in first]]
st.dataframe(shown, hide_index=True, key="table",
             column_config={FLAGS: st.column_config.TextColumn(FLAGS, width="large", help="QC warnings")})

# --- distributions ------------------------------------------------------------------------------------
if numbers and len(ok):
    from medvit.viewer.figures import distribution_charts

    st.subheader("Distributions")
    left, right = st.columns([1, 1])
    value = left.selectbox("Value", numbers, key=w.synced(f"value_column_{table_id}", numbers[0]))
    groups = group_columns(ok)
    group = right.selectbox("Group by", ["(none)", *groups], key=w.synced(f"group_column_{table_id}", "(none)"))
    hist, box = distribution_charts(filtered[filtered["status"] == "ok"], value, None if group == "(none)" else group)
    left.plotly_chart(hist, key="histogram")
    right.plotly_chart(box, key="boxplot")

# --- failed cases -------------------------------------------------------------------------------------
st.subheader("Failed cases")
if failed.empty:
    st.write("None: every case succeeded.")
else:
    st.dataframe(failed[["image", "status", "error"]], hide_index=True, key="failed")

# --- click-through ------------------------------------------------------------------------------------
page = OUTPUT_TABLES.get(output.table_path.name) if output is not None else None
if page and len(ok):
    st.subheader("Open a case")
    case = st.selectbox("Case", list(ok["image"]), key=w.synced(f"open_case_{table_id}", ok["image"].iloc[0]))
    if st.button(f"Open {case} on its page", key="open_button"):
        w.open_case(page, str(output.table_path.parent), case)
