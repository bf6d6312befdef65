"""One self-contained HTML page about fitted runs: what a user opens or sends after a job.

Read top down: given held-out rows, first the answer (did the source help, by how much: the
transfer run against scratch on those rows, :mod:`gentransfer.pipeline.verdict`), then the runs'
scores with 95% intervals and what each score means; then, for each run folder, the held-out
check against the floor, the negative-transfer guard's table (``--strategy auto``), the training
curve, pictures (a sample grid of an image run with a row per class, beside real images when
held-out rows are given; a pair plot of real against generated rows of a table), and its
settings folded away. An ``auto`` run brings its own comparison (its scratch candidate).
Figures are matplotlib PNGs embedded as base64, so the page is one file.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError, DataError
from gentransfer.files import atomic_write_bytes
from gentransfer.pipeline.evaluate import (
    FAR_ABOVE_FLOOR,
    SCORE_NOTES,
    W1_SPLITS,
    evaluation_cells,
    few_rows_note,
    score_run,
)
from gentransfer.pipeline.runfolder import RunFolder
from gentransfer.pipeline.sample import sample_run
from gentransfer.pipeline.verdict import Verdict, comparison_runs, verdict
from gentransfer.transfer.guard import LOSS_UNITS

__all__ = ["write_report"]

_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}h2{border-bottom:2px solid #ddd;padding-top:1em}.warn{color:#a40000}
pre{background:#f7f7f7;padding:.5em}.answer{font-size:1.25em;padding:.6em .8em;border-left:6px solid #888;
background:#fafafa}.helped{border-color:#2a7d2a}.hurt{border-color:#a40000}.unclear{border-color:#b08000}
.mixed{border-color:#5060b0}
.small{color:#555;font-size:.9em}details{margin:.5em 0}"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as dotted keys; unset ones left out, floats to 4 significant digits."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        elif v is not None and v != []:
            out.append((f"{prefix}{k}", f"{v:.4g}" if isinstance(v, float) else v))
    return out


def _curve(history: list[dict[str, float]], title: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    steps = [h["step"] for h in history]
    for key in ("train_loss", "val_loss"):
        values = [h.get(key) for h in history]
        if all(isinstance(v, int | float) and np.isfinite(v) for v in values):
            ax.plot(steps, values, marker=".", label=key.replace("_", " "))
    finite = [v for h in history for v in (h.get("train_loss"), h.get("val_loss")) if isinstance(v, int | float)]
    if finite and max(finite) > 100 * max(1e-12, np.median(np.abs(finite))):
        ax.set_yscale("symlog")  # a loss spike would flatten the rest of the curve
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def _pairs(real: np.ndarray, fake: np.ndarray, title: str, columns: int = 4) -> str:
    """Real against generated rows, the first ``columns`` columns that vary, pairwise."""
    import matplotlib.pyplot as plt

    cols = [j for j in range(real.shape[1]) if real[:, j].std() > 0][:columns]
    k = max(len(cols), 1)
    fig, axes = plt.subplots(k, k, figsize=(2.2 * k, 2.2 * k), squeeze=False)
    for a, i in enumerate(cols):
        for b, j in enumerate(cols):
            ax = axes[a][b]
            if i == j:
                ax.hist(real[:, i], bins=30, alpha=0.5, density=True, label="real")
                ax.hist(fake[:, i], bins=30, alpha=0.5, density=True, label="generated")
            else:
                ax.scatter(real[:, j], real[:, i], s=3, alpha=0.4, label="real")
                ax.scatter(fake[:, j], fake[:, i], s=3, alpha=0.4, label="generated")
            ax.tick_params(labelsize=6)
            if a == k - 1:
                ax.set_xlabel(f"x{j}", fontsize=7)
            if b == 0:
                ax.set_ylabel(f"x{i}", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def _check_paragraph(check: dict[str, Any]) -> str:
    """The held-out check against its floor (a floor of 0, or a run's recorded ``inf``, compares nothing)."""
    ratio = check.get("ratio")
    comparable = ratio is not None and np.isfinite(ratio) and check["floor"] > 0
    warn = comparable and ratio > FAR_ABOVE_FLOOR
    against = (f"{check['floor']:.4f} (<b>{ratio:.2f}x</b>)" if comparable
               else "0: cannot compare (the held-out rows repeat training rows exactly)")
    return (f"<p class=\"{'warn' if warn else ''}\">Held-out check: W1 {check['w1']:.4f} on {check['rows']} "
            f"held-out rows against a real-vs-real floor of {against}; {check['outside_range']:.1%} of sampled "
            "values outside the data's range." + (" Far above the floor." if warn else "")
            + (f" {html.escape(few_rows_note(check['rows']))}." if comparable and few_rows_note(check["rows"])
               else "") + "</p>")


def _guard_section(auto: dict[str, Any], family: str, guard_by: str = "loss") -> str:
    """The guard's table, its units, and the rule that chose (the one the run was fitted under)."""
    rows = [(name, f"{loss:.4f}" + ("  ← chosen" if name == auto["chosen"] else ""))
            for name, loss in auto["losses"].items()]
    z = auto.get("z")  # absent from runs of the guard before issue 30 (it tested p < 0.05)
    rows += [("gain of best transfer over scratch", f"{auto['gain']:+.4f} ± {auto['gain_se']:.4f} ("
              + (f"signed-rank z = {z:+.2f}, " if z is not None else "")
              + f"one-sided p = {auto['p_value']:.3g}, n = {auto['n_validation']})")]
    by_w1 = guard_by == "w1"
    units = LOSS_UNITS.get("w1" if by_w1 else "latent" if auto.get("rule") == "lowest" else family,
                           "held-out loss per row")
    if by_w1:
        rule = ("Chosen by --guard-by w1: the candidate whose draws sit closest to the validation rows in exact W1 "
                "is kept, scratch included; the p-value is shown for information only (no test decides).")
    elif auto.get("rule") == "lowest":
        rule = ("The latent route keeps the lowest W1, scratch included; the p-value is shown for information "
                "only (the shares of one transport plan are not independent, so no test decides).")
    elif auto.get("threshold") is not None:
        rule = (f"The best transfer strategy is kept when it leads scratch row by row: the standardised signed-rank "
                f"statistic z of its gain must exceed {auto['threshold']:g} (a threshold chosen on a bank of real "
                "source/target pairs); otherwise scratch is kept.")
    else:
        rule = ("Transfer is kept only if it beats scratch row by row (one-sided signed-rank test, p < 0.05); "
                "otherwise scratch is kept.")
    return (f"<h3>Negative-transfer guard</h3><p class=\"small\">On {auto['n_validation']} validation rows the "
            f"guard held out of the target data; {html.escape(units)}; lower is better. {rule}</p>" + _table(rows))


def _samples(run: Path, data: Table | None, config: dict[str, Any], seed: int) -> str:
    """An image run's sample grid, a row per class (named), beside real images of ``data``."""
    from gentransfer.data.images import image_grid_figure
    from gentransfer.pipeline.kinds import image_labels

    names = config.get("classes")
    drawn = sample_run(run, 8, None, seed=seed)
    labels = drawn["z"][:, 0] if "z" in drawn else None
    out = "<h3>Samples</h3>" + _png(image_grid_figure(drawn["x"], labels, per_row=8, title=f"generated: {run}",
                                                       names=names))
    if data is not None and data.x is not None and data.image_shape is not None:
        try:
            real = image_labels(data, config, run)
        except DataError:
            return out
        images = real.x.reshape(len(real.x), *real.image_shape)
        real_labels = real.z[:, 0] if real.z is not None and labels is not None else None
        out += _png(image_grid_figure(images, real_labels, per_row=8, title=f"real: {data.source}", names=names))
    return out


def _run_section(run: Path, data: Table | None, seed: int) -> str:
    folder = RunFolder(run)
    try:
        config, metrics = folder.config(), folder.metrics()
        strategy = folder.strategy_label()
    except CheckpointError as err:
        raise CheckpointError(f"{run} is not a finished gentransfer run ({err.problem})",
                              "point to a folder written by fit-source or fit-target") from None
    parts = [f"<h2>{html.escape(str(run))}</h2>",
             f"<p>{html.escape(str(config.get('role', '?')))} run · family {html.escape(str(config.get('family')))}"
             f" · strategy <b>{html.escape(strategy)}</b></p>"]
    check = metrics.get("heldout_check")
    if check:
        parts.append(_check_paragraph(check))
    if "auto" in metrics:
        parts.append(_guard_section(metrics["auto"], str(config.get("family")), config.get("guard_by", "loss")))
    if metrics.get("history"):
        parts.append("<h3>Training curve</h3>" + _curve(metrics["history"], str(run)))
    if folder.is_image_run():  # a sample grid (every class), no pair plot
        parts.append(_samples(run, data, config, seed))
    elif data is not None and data.x is not None:
        cond = Table(z=data.z, zc=data.zc, source=data.source) if data.z is not None or data.zc is not None else None
        try:
            fake = sample_run(run, 1 if cond is not None else len(data.x), cond, seed=seed)["x"]
            if fake.shape[1] != data.x.shape[1]:
                raise DataError(f"the run generates {fake.shape[1]} columns, the held-out rows have "
                                f"{data.x.shape[1]}", "")
            parts.append("<h3>Real against generated (held-out rows)</h3>" + _pairs(data.x, fake, str(run)))
        except DataError as err:  # e.g. a source run of another table than the held-out rows
            if config.get("role") == "source":  # its own task's conditions: the check above is its score
                parts.append(f"<p>The source run models the source task, so it is not drawn against "
                             f"{html.escape(data.source)} ({html.escape(err.problem)})"
                             + ("; the held-out check above scores it on the source's own rows" if check else "")
                             + ".</p>")
            else:
                parts.append(f"<p>Not drawn against {html.escape(data.source)}: {html.escape(err.problem)}</p>")
    fit = {k: v for k, v in metrics.items() if k not in ("history", "heldout_check", "auto")}
    parts.append("<details><summary>Settings and fit</summary><h3>Settings</h3>" + _table(_flat(config))
                 + "<h3>Fit</h3>" + _table(_flat(fit)) + "</details>")
    return "\n".join(parts)


def _answer(answer: Verdict | None, data: Table | None) -> str:
    """The page's first section: did the source help, on the user's rows."""
    if data is None or data.x is None:
        return ("<p class=\"answer unclear\">Did the source help? Pass held-out rows (<code>report RUN --data "
                "TEST</code>) to see the transferred model beside scratch on your own test rows.</p>")
    if answer is None:
        return ("<p class=\"answer unclear\">Did the source help? No comparison here: pass an <code>auto</code> "
                "run (it brings its scratch candidate) or a transfer run beside a scratch run.</p>")
    return (f"<h2>Did the source help?</h2><p class=\"answer {answer.outcome}\">{html.escape(answer.sentence())}</p>"
            f"<p class=\"small\">{html.escape(answer.headline())}. The NLL gain is paired row by row (both models "
            "scored on the same rows), the W1 gain cut by cut over 10 random half-splits of the rows; |t| of 2 "
            "or more (2.26 for W1, whose se has 9 degrees of freedom) is a difference these rows resolve.</p>")


def _scores(results: list[dict[str, Any]], data: Table) -> str:
    """The runs scored side by side, NLL with its 95% interval, and what each score means."""
    if not results:
        return f"<h2>Scores on {html.escape(data.source)}</h2><p>No run fits these rows.</p>"
    columns, rows = evaluation_cells(results)
    at = columns.index("NLL per row (± se)")
    columns[at] = "NLL per row, nats [95% interval]"
    for cells, r in zip(rows, results, strict=True):
        lo, hi = r["nll"] - 1.96 * r["nll_se"], r["nll"] + 1.96 * r["nll_se"]
        cells[at] = f"{r['nll']:.3f} [{lo:.3f}, {hi:.3f}]"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in SCORE_NOTES)
    rows = results[0]["rows"]
    scored = f"{rows:,} rows, the likelihood on {results[0]['nll_rows']:,} of them" if results[0]["nll_rows"] < rows \
        else f"{rows:,} rows"
    return (f"<h2>Scores on {html.escape(data.source)}</h2><p class=\"small\">Each run scored on the same "
            f"{scored}.</p><table><tr>{head}</tr>{body}</table><ul class=\"small\">{notes}</ul>")


def _preface(preface: dict[str, Any] | None) -> str:
    if not preface:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in preface.get("head", []))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in preface.get("rows", []))
    return (f"<h2>{html.escape(preface['title'])}</h2><p>{html.escape(preface.get('text', ''))}</p>"
            + (f"<table><tr>{head}</tr>{body}</table>" if body else ""))


def write_report(runs: list[str | Path], out: str | Path, data: Table | None = None, *, seed: int = 0,
                 preface: dict[str, Any] | None = None) -> Path:
    """Write the HTML page about ``runs`` to ``out``; ``data`` are held-out rows (x with the runs'
    conditions) for the answer, the side-by-side scores and the pictures. An ``auto`` run's
    comparison candidate is added to ``runs``. ``preface``: a section shown right after the answer,
    ``{"title", "text", "head", "rows"}`` (the demo's scores against the true law). Returns the page's path.

    Example (after ``gentransfer fit-source ... --out source-run``):
        >>> write_report(["source-run"], "report.html")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    runs = comparison_runs(runs)
    sections = [_run_section(Path(r), data, seed) for r in runs]
    scores, answer = "", None
    if data is not None and data.x is not None:
        scored = []
        for r in runs:
            try:
                scored.append(score_run(r, data, seed=seed, w1_splits=W1_SPLITS))
            except DataError:  # another table (a source run); its section says why
                continue
        answer = verdict(scored)
        scores = _scores([result for result, _ in scored], data)
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>gentransfer report</title>"
            f"<style>{_STYLE}</style></head><body><h1>gentransfer report</h1>{_answer(answer, data)}"
            f"{_preface(preface)}{scores}"
            f"{''.join(sections)}</body></html>")
    path = Path(out)
    atomic_write_bytes(path, page.encode())
    return path
