"""Bring your own data: fit a source, transfer to a target, sample, evaluate, report; each run a folder.

- :mod:`~gentransfer.pipeline.runfolder`: :class:`RunFolder`, the files of a run, and the transaction;
- :mod:`~gentransfer.pipeline.scaling`: the scales of x, z and zc;
- :mod:`~gentransfer.pipeline.kinds`: tables, latent tables and images, one object each;
- :mod:`~gentransfer.pipeline.settings`: a source's architecture (:class:`ModelSettings`);
- :mod:`~gentransfer.pipeline.fit`, :mod:`~gentransfer.pipeline.sample`,
  :mod:`~gentransfer.pipeline.evaluate`, :mod:`~gentransfer.pipeline.report`: what a user runs.
"""

from gentransfer.lazy import lazy_exports

__all__ = ["ModelSettings", "RunFolder", "Scaling", "data_defaults", "evaluate_run", "evaluation_table", "fit_source",
           "fit_target", "heldout_check", "sample_run", "write_report"]

# loaded on first use (gentransfer.lazy): the command line's help stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "evaluate_run": "gentransfer.pipeline.evaluate",
    "evaluation_table": "gentransfer.pipeline.evaluate",
    "heldout_check": "gentransfer.pipeline.evaluate",
    "fit_source": "gentransfer.pipeline.fit",
    "fit_target": "gentransfer.pipeline.fit",
    "data_defaults": "gentransfer.pipeline.kinds",
    "write_report": "gentransfer.pipeline.report",
    "RunFolder": "gentransfer.pipeline.runfolder",
    "sample_run": "gentransfer.pipeline.sample",
    "Scaling": "gentransfer.pipeline.scaling",
    "ModelSettings": "gentransfer.pipeline.settings",
})
