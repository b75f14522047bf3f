"""Label cleaning: repair, validate and classify label features, reporting every change.

Every feature that is not used as given (null, empty, malformed or invalid geometry, not a polygon, unknown
class, a repeat of another feature, outside every raster) gets a row in the label report: nothing is dropped
or changed silently.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprints.classes import CLASS_NAMES
from footprints.errors import InputError
from footprints.postprocess.robust import grid_for, iou

REPEAT_IOU = 0.9  # two label polygons overlapping this much are one building traced twice

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["source_fid", "problem", "action"]
LABEL_COLUMNS = ["label_id", "source_fid", "class_id", "class_name", "geometry"]


def clean_labels(raw_labels: gpd.GeoDataFrame, tile_index: gpd.GeoDataFrame, params: dict[str, Any]
                 ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Repair, validate and classify the label features, kept in the label file's CRS.

    Args:
        raw_labels: features as read from the label file.
        tile_index: the tiles, to report labels that touch none.
        params: ``class_attribute``, ``classes`` (attribute value -> class name), ``unknown_class``
            (``drop`` or a class name for features with a missing or unknown class), ``assume_crs``.

    Returns:
        One polygon per row (``label_id``, ``source_fid``, ``class_id``, ``class_name``) and the report.
    """
    report: list[dict[str, Any]] = []
    labels = raw_labels.reset_index(drop=True)
    labels = labels.assign(source_fid=labels.index)
    labels = _with_crs(labels, params)  # kept in its own CRS: each image's query transforms it
    labels = _drop_missing(labels, raw_labels.attrs.get("malformed", {}), report)
    labels = _repair(labels, report)
    labels = _explode_polygons(labels, report)
    labels = _classify(labels, params, report)
    labels = _drop_repeats(labels, report)
    _report_outside(labels, tile_index, report)
    labels = labels.reset_index(drop=True).assign(label_id=lambda f: np.arange(1, len(f) + 1))
    report_frame = pd.DataFrame(report, columns=REPORT_COLUMNS)
    _log_summary(raw_labels, labels, report_frame)
    return labels[LABEL_COLUMNS], report_frame


def _with_crs(labels: gpd.GeoDataFrame, params: dict[str, Any]) -> gpd.GeoDataFrame:
    if labels.crs is not None:
        return labels
    if not params.get("assume_crs"):
        source = labels.attrs.get("source", "label file")
        raise InputError(f"{source}: labels have no CRS; add one to the file or set labels.assume_crs "
                         "(e.g. EPSG:4326) in conf/base/parameters_labels.yml")
    return labels.set_crs(params["assume_crs"])


def _drop_missing(labels: gpd.GeoDataFrame, malformed: dict[int, str], report: list) -> gpd.GeoDataFrame:
    """Drop features without a geometry: null, empty, or malformed in the file (``malformed``: source fid ->
    why its geometry could not be built, from ``VectorFileDataset``)."""
    missing = labels.geometry.isna() | labels.geometry.is_empty
    for fid, null in zip(labels.source_fid[missing], labels.geometry.isna()[missing]):
        problem = f"malformed geometry: {malformed[fid]}" if fid in malformed else \
            "null geometry" if null else "empty geometry"
        report.append({"source_fid": fid, "problem": problem, "action": "dropped"})
    return labels[~missing]


def _repair(labels: gpd.GeoDataFrame, report: list) -> gpd.GeoDataFrame:
    """``make_valid`` on invalid geometries (self-intersections, bow ties...), keeping every piece."""
    invalid = ~labels.geometry.is_valid
    reasons = shapely.is_valid_reason(labels.geometry[invalid].values)
    for fid, reason in zip(labels.source_fid[invalid], reasons):
        report.append({"source_fid": fid, "problem": f"invalid geometry: {reason}",
                       "action": "repaired with make_valid"})
    repaired = labels.geometry.copy()
    repaired[invalid] = shapely.make_valid(labels.geometry[invalid].values)
    return labels.set_geometry(repaired)


def _explode_polygons(labels: gpd.GeoDataFrame, report: list) -> gpd.GeoDataFrame:
    """One polygon per row: multipolygons split into buildings, lines and points dropped."""
    # twice: make_valid can nest a MultiPolygon inside a GeometryCollection
    parts = labels.explode(index_parts=False).explode(index_parts=False)
    polygonal = parts.geom_type == "Polygon"
    dropped = parts[~polygonal].groupby("source_fid").geometry.agg(lambda g: sorted(set(g.geom_type)))
    with_polygon = set(parts.source_fid[polygonal])
    repaired = {row["source_fid"] for row in report if row["action"] == "repaired with make_valid"}
    for fid, kinds in dropped.items():
        if fid not in with_polygon:
            report.append({"source_fid": fid, "problem": f"not a polygon ({', '.join(kinds)})",
                           "action": "dropped"})
        elif fid not in repaired:  # e.g. a Point beside the polygons of a GeometryCollection (a repair's
            # slivers are already reported with the repair)
            report.append({"source_fid": fid, "problem": f"{', '.join(kinds)} among its polygons",
                           "action": "dropped; polygons kept"})
    kept = parts[polygonal & (shapely.area(parts.geometry.values) > 0)]  # any CRS: only the sign counts
    split = kept.source_fid.value_counts()
    split = split[split > 1]
    if len(split):
        log.info("labels: %d multi-part features split into %d buildings, one row each (source_fid kept)",
                 len(split), int(split.sum()))
    return kept


def class_key(value: Any) -> str | None:
    """The value a class attribute is matched by, whatever its JSON/YAML type: ``1``, ``1.0`` and ``"1"`` all
    give ``"1"`` (a shapefile or GeoPackage may store a code the YAML writes as an integer as a float or a
    text); other text is matched as written, surrounding spaces aside. ``None`` for a missing value."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if math.isfinite(number) and number.is_integer() else text


def _classify(labels: gpd.GeoDataFrame, params: dict[str, Any], report: list) -> gpd.GeoDataFrame:
    """Map the class attribute to class names (matched by :func:`class_key`); unknown or missing ones are
    dropped or defaulted."""
    mapping = {class_key(k): v for k, v in params["classes"].items()}
    _check_class_names(set(mapping.values()) | {params["unknown_class"]} - {"drop"})
    attribute = params["class_attribute"]
    if attribute not in labels.columns and len(labels):
        others = [c for c in labels.columns if c not in {"geometry", "source_fid"}]
        log.warning("%s: no feature has a %r property (they have %s): every feature counts as missing its "
                    "class; set labels.class_attribute in conf/base/parameters_labels.yml",
                    labels.attrs.get("source", "labels"), attribute, others or "none")
    raw = labels[attribute] if attribute in labels.columns else pd.Series(None, index=labels.index)
    names = raw.map(lambda v: mapping.get(class_key(v)))
    policy = params["unknown_class"]
    for fid, value in zip(labels.source_fid[names.isna()], raw[names.isna()]):
        problem = f"missing {attribute}" if class_key(value) is None else f"unknown {attribute} {value!r}"
        report.append({"source_fid": fid, "problem": problem,
                       "action": "dropped" if policy == "drop" else f"mapped to {policy}"})
    names = names.fillna(policy)
    labels = labels[names != "drop"].assign(class_name=names[names != "drop"])
    return labels.assign(class_id=labels.class_name.map(lambda n: CLASS_NAMES.index(n) + 1).astype(int))


def _check_class_names(names: set[str]) -> None:
    unknown = names - set(CLASS_NAMES)
    if unknown:
        raise InputError(f"labels.classes / labels.unknown_class name {sorted(unknown)}: use one of "
                         f"{list(CLASS_NAMES)} or 'drop'")


def _drop_repeats(labels: gpd.GeoDataFrame, report: list) -> gpd.GeoDataFrame:
    """Keep one polygon per building traced more than once (IoU >= ``REPEAT_IOU``: the same feature twice, or
    shifted by centimetres): the first in the file is kept, with its class, and each repeat is reported,
    naming both classes when they differ. Two identical instances would teach the model to predict both."""
    geoms = labels.geometry.values
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    i, j = i[i < j], j[i < j]
    overlap, _ = iou(geoms[i], geoms[j], grid_for(labels.crs))
    i, j, overlap = i[overlap >= REPEAT_IOU], j[overlap >= REPEAT_IOU], overlap[overlap >= REPEAT_IOU]
    first: dict[int, tuple[int, float]] = {}
    for a, b, value in zip(i, j, overlap):  # each repeat points to the earliest feature it repeats
        if b not in first or first[b][0] > a:
            first[b] = (a, value)
    fids, classes = labels.source_fid.to_numpy(), labels.class_name.to_numpy()
    for b, (a, value) in sorted(first.items()):
        problem = f"repeat of feature {fids[a]} (IoU {value:.2f})"
        if classes[b] != classes[a]:
            problem += f" with another class ({classes[b]}; the kept feature is {classes[a]})"
        report.append({"source_fid": fids[b], "problem": problem, "action": "dropped"})
    keep = np.ones(len(labels), dtype=bool)  # by position: the parts of a multi-part feature share a label
    keep[list(first)] = False
    return labels[keep]


def _report_outside(labels: gpd.GeoDataFrame, tile_index: gpd.GeoDataFrame, report: list) -> None:
    """Labels that touch no tile stay in the database but cannot train anything: say so."""
    tree = shapely.STRtree(tile_index.geometry.values)
    geoms = labels.geometry.to_crs(tile_index.crs).values if len(labels) else labels.geometry.values
    touching = np.unique(tree.query(geoms, predicate="intersects")[0])
    outside = np.setdiff1d(np.arange(len(labels)), touching)
    for fid in labels.source_fid.values[outside]:
        report.append({"source_fid": fid, "problem": "outside every raster", "action": "stored, unused"})
    if len(labels) and not len(touching):
        log.warning("no label touches any raster: check that labels and images cover the same area and "
                    "that the label CRS is right")


def _log_summary(raw: gpd.GeoDataFrame, labels: gpd.GeoDataFrame, report: pd.DataFrame) -> None:
    """Say what was done: a WARNING with the counts when anything was dropped or repaired, and stop when a
    non-empty label file keeps nothing (training on no label is a setting gone wrong, not a result)."""
    source = raw.attrs.get("source", "the label file")
    if raw.empty:
        log.warning("%s: the label file holds no features: every tile is unlabelled", source)
        return
    counts = report.groupby(["problem", "action"]).size() if len(report) else pd.Series(dtype=int)
    summary = _summary(counts)
    if labels.empty:
        raise InputError(f"{source}: none of its {len(raw)} features was kept ({summary}); fix the file, or "
                         "labels.class_attribute / labels.classes in conf/base/parameters_labels.yml")
    changed = report[report.action != "stored, unused"] if len(report) else report
    if len(changed):
        log.warning("%s: %d features in, %d polygons kept; %s (rows in label_report.csv)", source, len(raw),
                    len(labels), summary)
    else:
        log.info("%s: %d features in, %d polygons kept; %s", source, len(raw), len(labels),
                 summary or "no problems")


def _summary(counts: pd.Series, most: int = 6) -> str:
    """``n x problem -> action`` for the most frequent kinds of problem, so one line stays readable."""
    counts = counts.sort_values(ascending=False, kind="stable")
    parts = [f"{n} x {p} -> {a}" for (p, a), n in counts.iloc[:most].items()]
    if len(counts) > most:
        parts.append(f"{int(counts.iloc[most:].sum())} more in {len(counts) - most} other kinds")
    return "; ".join(parts)
