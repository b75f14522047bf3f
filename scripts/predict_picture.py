"""Draw `footprints predict` buildings over their image (docs/img/starter_predict.jpg in the README).

    python scripts/predict_picture.py IMAGE.tif predictions/buildings/IMAGE.gpkg --out docs/img/starter_predict.jpg \\
        [--truth labels.geojson] [--window COL ROW WIDTH HEIGHT]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from rasterio.windows import Window  # noqa: E402
from rasterio.windows import transform as window_transform  # noqa: E402

from footprints.datasets.raster import stretch  # noqa: E402
from footprints.geo import map_to_pixel  # noqa: E402


def outline(axis, geoms, transform, colour: str, width: float) -> None:
    for geom in geoms:
        for part in getattr(geom, "geoms", [geom]):
            ring = np.asarray(map_to_pixel(part, transform).exterior.coords)
            axis.plot(ring[:, 0], ring[:, 1], color=colour, linewidth=width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("buildings", type=Path)
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--window", type=int, nargs=4, metavar=("COL", "ROW", "WIDTH", "HEIGHT"))
    parser.add_argument("--out", type=Path, default=Path("docs/img/starter_predict.jpg"))
    args = parser.parse_args()
    with rasterio.open(args.image) as src:
        window = Window(*args.window) if args.window else Window(0, 0, src.width, src.height)
        pixels = src.read([1, 2, 3], window=window)
        transform, crs = window_transform(window, src.transform), src.crs
    figure, axis = plt.subplots(figsize=(12, 12 * window.height / window.width), dpi=100)
    axis.imshow(stretch(pixels))
    if args.truth:
        outline(axis, gpd.read_file(args.truth).to_crs(crs).geometry, transform, "cyan", 1.0)
    found = gpd.read_file(args.buildings).to_crs(crs)
    outline(axis, found.geometry, transform, "yellow", 1.6)
    axis.set_xlim(0, window.width)
    axis.set_ylim(window.height, 0)
    axis.set_axis_off()
    legend = "yellow: found by the model" + (", cyan: OpenStreetMap" if args.truth else "")
    axis.set_title(f"{args.image.name}: {len(found)} buildings ({legend})", fontsize=11)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, pil_kwargs={"quality": 85} if args.out.suffix == ".jpg" else None)
    print(args.out)


if __name__ == "__main__":
    main()
