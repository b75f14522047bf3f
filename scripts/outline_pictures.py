"""Draw the outlines a model's detections become, for docs/outputs.md: raw mask outline (no simplification),
simplified by one pixel, and squared, over the tile's pixels.

    python scripts/outline_pictures.py MODEL.safetensors IMAGE.tif --row 448 --col 4704 --out docs/img/outlines.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from rasterio.windows import Window  # noqa: E402

from footprints.datasets.raster import GeoTIFFDataset, stretch  # noqa: E402
from footprints.geo import TileGrid, footprint, map_to_pixel, metric_crs  # noqa: E402
from footprints.model import build_model, predict_tiles, read_weights  # noqa: E402
from footprints.postprocess.buildings import image_buildings  # noqa: E402
from footprints.postprocess.tile_polygons import tile_prediction  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--row", type=int, default=0)
    parser.add_argument("--col", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/img/outlines.jpg"))
    args = parser.parse_args()
    weights = read_weights(args.model)
    config = weights.config
    size = config["tile_size"]
    model = build_model(config["arch"], tile_size=size, pretrained="none", state_dict=weights.state_dict,
                        input_scale=config.get("input_scale", 1.0))
    source = GeoTIFFDataset(filepath=str(args.image), lazy=True).load()
    raster = source.read(Window(args.col, args.row, size, size))
    grid = TileGrid("tile", args.image.stem, raster.profile["transform"], source.profile["crs"], size, size,
                    metric_crs(source.profile["crs"], footprint(source.profile["transform"], source.profile["width"],
                                                                source.profile["height"]).bounds))
    (_, instances), = predict_tiles(model, [("tile", raster.array)], config["bands"], config["mean"], config["std"],
                                    torch.device("cpu"), progress=False)
    params = yaml.safe_load(Path("conf/base/parameters_inference.yml").read_text())["inference"]
    area = footprint(grid.transform, size, size)
    panels = []
    for title, polygons, merge in (("mask outline (simplify_px 0)", {**params["polygons"], "simplify_px": 0}, False),
                                   ("simplify_px 1 (default)", params["polygons"], False),
                                   ("simplify_px 1 + regularise: true", params["polygons"], True)):
        doc = tile_prediction(grid, instances, polygons, {}, area)
        buildings = image_buildings([doc], {**params["merge"], "regularise": merge})
        panels.append((title, buildings.geometry.values))
    figure, axes = plt.subplots(1, 3, figsize=(15, 5.4), dpi=100)
    picture = stretch(raster.array[:3])
    for axis, (title, geoms) in zip(axes, panels):
        axis.imshow(picture)
        vertices = 0
        for geom in geoms:
            for part in getattr(geom, "geoms", [geom]):
                ring = np.asarray(map_to_pixel(part, grid.transform).exterior.coords)
                vertices += len(ring) - 1
                axis.plot(ring[:, 0], ring[:, 1], color="yellow", linewidth=1.2)
        axis.set_title(f"{title}\n{len(geoms)} buildings, {vertices} vertices", fontsize=10)
        axis.set_axis_off()
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, pil_kwargs={"quality": 85} if args.out.suffix == ".jpg" else None)
    print(args.out)


if __name__ == "__main__":
    main()
