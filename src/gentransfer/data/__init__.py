"""Data layer: real digit datasets, the paper's USPS protocol, and validated user tables."""

from gentransfer.lazy import lazy_exports

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

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "resize_images": "gentransfer.data.images",
    "load_mnist": "gentransfer.data.mnist",
    "data_root": "gentransfer.data.paths",
    "UspsSplit": "gentransfer.data.protocol",
    "mnist_source": "gentransfer.data.protocol",
    "stratified_subset": "gentransfer.data.protocol",
    "usps_paper_split": "gentransfer.data.protocol",
    "Table": "gentransfer.data.tabular",
    "load_table": "gentransfer.data.tabular",
    "load_usps": "gentransfer.data.usps",
})
