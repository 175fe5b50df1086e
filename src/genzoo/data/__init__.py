"""Data: toy 2-D sets, MNIST (IDX), text, user folders, transforms with log-dets. `get(name, split)`.

    ds = genzoo.data.get("ring8")                 # ArrayDataset: .x (20000, 2), .y, .kind "points", .meta
    ds = genzoo.data.get("mnist", "test")         # shipped MNIST-10k, float32 (2000, 1, 28, 28) in [0, 1]
    ds = genzoo.data.get("shapes")                # dSprites-like shapes, meta["factor_values"] (N, 5) known factors
    ds = genzoo.data.get("mnist", root="~/mnist") # a folder of full MNIST / Fashion-MNIST / KMNIST IDX files
    ds = genzoo.data.get("path/to/images/")       # user data: folder of PNG/JPEG, .npy / .npz, .csv / .tsv, .txt
    ds = genzoo.data.get("pts.csv", "test", label="class")  # user data: a seeded 10% is held out as "test"

docs/data.md describes every set, transform and formula.
"""

from genzoo.data.datasets import ArrayDataset, DataInfo, get, get_info, names
from genzoo.data.idx import read_checksums, read_idx, sha256_file, verify_checksum, write_idx
from genzoo.data.mnist import load_digits, load_mnist, stacked_mnist
from genzoo.data.shapes import render_shapes, shapes_images
from genzoo.data.tabular import Table, load_table
from genzoo.data.text import CharVocab, TextData, load_text
from genzoo.data.toy import ToyModes, toy2d, toy2d_entropy, toy2d_log_prob, toy2d_modes, toy2d_names
from genzoo.data.transforms import (
    affine,
    binarize,
    dequantize,
    from_minus_one_one,
    inverse_logit_transform,
    logit_transform,
    to_float,
    to_levels,
    to_minus_one_one,
)
from genzoo.data.user import load_array, load_images

__all__ = [
    "ArrayDataset",
    "CharVocab",
    "DataInfo",
    "TextData",
    "Table",
    "ToyModes",
    "affine",
    "binarize",
    "dequantize",
    "from_minus_one_one",
    "get",
    "get_info",
    "inverse_logit_transform",
    "load_array",
    "load_digits",
    "load_images",
    "load_mnist",
    "load_table",
    "load_text",
    "logit_transform",
    "names",
    "read_checksums",
    "read_idx",
    "render_shapes",
    "sha256_file",
    "shapes_images",
    "stacked_mnist",
    "to_float",
    "to_levels",
    "to_minus_one_one",
    "toy2d",
    "toy2d_entropy",
    "toy2d_log_prob",
    "toy2d_modes",
    "toy2d_names",
    "verify_checksum",
    "write_idx",
]
