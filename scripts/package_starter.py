"""Write trained weights as the shipped starter model: int8 weights with per-channel scales (a quarter of the
float32 file; `read_weights` gives float32 back), the training config and provenance kept in the metadata.

    python scripts/package_starter.py data/06_models/model.safetensors models/starter-resnet18-gn.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from footprints.model.weights import read_weights, save_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--precision", choices=("float32", "float16", "int8"), default="int8")
    args = parser.parse_args()
    weights = read_weights(args.weights)
    save_weights(weights, args.out, precision=args.precision)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB ({args.precision}), "
          f"arch {weights.config['arch']}, {weights.config['training']['epochs']} epochs")


if __name__ == "__main__":
    main()
