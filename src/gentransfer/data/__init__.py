"""Data layer: real digit datasets, the paper's USPS protocol, and validated user tables."""

from gentransfer.data.images import resize_images
from gentransfer.data.mnist import load_mnist
from gentransfer.data.paths import data_root
from gentransfer.data.protocol import UspsSplit, mnist_source, stratified_subset, usps_paper_split
from gentransfer.data.tabular import Table, load_table
from gentransfer.data.usps import load_usps

__all__ = [
    "Table",
    "UspsSplit",
    "data_root",
    "load_mnist",
    "load_table",
    "load_usps",
    "mnist_source",
    "resize_images",
    "stratified_subset",
    "usps_paper_split",
]
