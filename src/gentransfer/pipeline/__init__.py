"""Bring your own data: fit a source, transfer to a target, sample, evaluate, report; each run a folder.

- :mod:`~gentransfer.pipeline.runfolder`: :class:`RunFolder`, the files of a run, and the transaction;
- :mod:`~gentransfer.pipeline.scaling`: the scales of x, z and zc;
- :mod:`~gentransfer.pipeline.kinds`: tables, latent tables and images, one object each;
- :mod:`~gentransfer.pipeline.settings`: a source's architecture (:class:`ModelSettings`);
- :mod:`~gentransfer.pipeline.fit`, :mod:`~gentransfer.pipeline.sample`,
  :mod:`~gentransfer.pipeline.evaluate`, :mod:`~gentransfer.pipeline.report`: what a user runs.
"""

from gentransfer.pipeline.evaluate import evaluate_run, evaluation_table, heldout_check
from gentransfer.pipeline.fit import fit_source, fit_target
from gentransfer.pipeline.kinds import data_defaults
from gentransfer.pipeline.report import write_report
from gentransfer.pipeline.runfolder import RunFolder
from gentransfer.pipeline.sample import sample_run
from gentransfer.pipeline.scaling import Scaling
from gentransfer.pipeline.settings import ModelSettings

__all__ = ["ModelSettings", "RunFolder", "Scaling", "data_defaults", "evaluate_run", "evaluation_table", "fit_source",
           "fit_target", "heldout_check", "sample_run", "write_report"]
