"""Tables as users have them: typed columns inferred, declared, modelled and written back."""

import csv

import numpy as np
import pytest

from gentransfer.data.mixed import MixedTransform
from gentransfer.data.tabular import Columns, load_table
from gentransfer.errors import DataError
from gentransfer.pipeline import evaluate_run, fit_source, fit_target
from gentransfer.pipeline.evaluate import compare_samples
from gentransfer.pipeline.sample import sample_table, write_samples

QUIET = {"log": lambda *a: None}


def _survey(path, n=240, seed=0, regions=("midwest", "northeast", "south", "west"), shift=0.0, bom=False):
    """A small wage survey: years of schooling (integer), wage (continuous), region (categorical),
    union member (boolean), children (integer), with a header row (a space in one name)."""
    rng = np.random.default_rng(seed)
    rows = [["years of schooling", "wage", "region", "union", "children"]]
    for _ in range(n):
        school = int(rng.integers(8, 19))
        region = str(rng.choice(regions))
        union = bool(rng.random() < 0.3)
        wage = np.exp(1.5 + 0.08 * school + 0.2 * union + shift + rng.normal(0, 0.3))
        rows.append([school, f"{wage:.2f}", region, "true" if union else "false", int(rng.poisson(1.2))])
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_types_are_inferred_from_the_values(tmp_path):
    t = load_table(_survey(tmp_path / "s.csv", bom=True))
    kinds = {s.name: s.kind for s in t.columns["x"]}
    assert kinds == {"years of schooling": "integer", "wage": "continuous", "region": "categorical",
                     "union": "boolean", "children": "integer"}  # a byte-order mark does not stick to a name
    region = t.columns["x"][2]
    assert region.categories == ("midwest", "northeast", "south", "west") and set(t.x[:, 2]) <= {0, 1, 2, 3}
    assert t.header == ("years of schooling", "wage", "region", "union", "children")
    declared = Columns(categorical_columns=["children"], continuous_columns=["years of schooling"]).load(
        tmp_path / "s.csv")
    assert [s.kind for s in declared.columns["x"]] == ["continuous", "continuous", "categorical", "boolean",
                                                       "categorical"]


@pytest.mark.parametrize("cells,needle", [
    ([f"id-{i}" for i in range(30)], "free text or an identifier"),  # every value distinct
    (["9223372036854775808", "9223372036854775809", "1", "2"], r"beyond 2\^53"),
])
def test_a_column_that_is_not_data_is_refused_in_one_line(tmp_path, cells, needle):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    with pytest.raises(DataError, match=needle) as err:
        load_table(path)
    assert "--drop-columns b" in err.value.fix
    assert Columns(drop_columns=["b"]).load(path).x.shape == (len(cells), 1)


def test_csv_defects_are_one_line_errors_or_read_right(tmp_path):
    numeric_header = tmp_path / "h.csv"
    numeric_header.write_text("1,2\n3,4\n")
    with pytest.raises(DataError, match="holds numbers, not column names"):
        load_table(numeric_header)
    underscores = tmp_path / "u.csv"
    underscores.write_text("a,b\n1_000,1\n2,2\n2,3\n1_000,4\n")
    assert load_table(underscores).columns["x"][0].kind == "categorical"  # "1_000" is not the number 1000
    holes = tmp_path / "m.csv"
    holes.write_text("a,b,c\n1,2,x\n,3,y\n4,NA,x\n5,6,y\n7,8,\n")
    with pytest.raises(DataError, match=r"missing values in a \(1\), b \(1\), c \(1\)"):
        load_table(holes)
    assert len(Columns(missing="drop").load(holes)) == 2


def test_a_typed_table_round_trips_through_a_model(tmp_path):
    data = Columns().load(_survey(tmp_path / "s.csv"))
    for family in ("flow", "diffusion"):
        run = fit_source(data, family, tmp_path / f"run-{family}", train={"steps": 60, "eval_every": 20},
                         model={"hidden": 32}, **QUIET)
        samples = sample_table(run, 400, None, seed=1)
        assert samples.columns["x"] == data.columns["x"]
        write_samples(samples, tmp_path / f"{family}.csv")
        back = list(csv.DictReader(open(tmp_path / f"{family}.csv", encoding="utf-8")))
        assert list(back[0]) == ["years of schooling", "wage", "region", "union", "children"]  # names, order
        school = [int(r["years of schooling"]) for r in back]  # whole numbers, inside the range seen
        assert min(school) >= 8 and max(school) <= 18
        assert {r["region"] for r in back} <= {"midwest", "northeast", "south", "west"}
        assert {r["union"] for r in back} <= {"true", "false"}
        assert all(np.isfinite(float(r["wage"])) for r in back)  # unbounded: a tail below 0 is the model's
        if family == "diffusion":
            continue  # its likelihood is an ODE per row: the flow's scores check the typed evaluation
        scores = evaluate_run(run, data, seed=0)
        assert np.isfinite(scores["w1"]) and scores["w1_floor"] > 0
        assert 0 < scores["table"]["column_shapes"]["mean"] <= 1 and scores["table"]["detection_auc"] >= 0
        compared = compare_samples(load_table(tmp_path / "s.csv"), load_table(tmp_path / f"{family}.csv"))
        assert compared["table"]["column_shapes_floor"]["mean"] > 0.8  # two halves of the survey agree
        assert compared["value"] > 0 and compared["n_fake"] == 400


def test_categorical_conditions_are_matched_by_name_and_unseen_ones_refused(tmp_path):
    source = _survey(tmp_path / "source.csv", n=300)
    cols = Columns(z_columns=["region", "years of schooling"], x_columns=["wage", "children"])
    run = fit_source(cols.load(source), "flow", tmp_path / "src", train={"steps": 40, "eval_every": 20},
                     model={"hidden": 16}, **QUIET)
    # a target that has only three of the regions codes them 0..2 in its own file: matched by name
    target = cols.load(_survey(tmp_path / "target.csv", n=120, seed=1, regions=("south", "west", "midwest"),
                               shift=0.3))
    out = fit_target(run, target, "freeze-shared", tmp_path / "tgt", train={"steps": 20, "eval_every": 10}, **QUIET)
    drawn = sample_table(out, 2, target, seed=0)
    assert drawn.columns["z"][0].categories == ("midwest", "south", "west")  # the condition file's own coding
    other = cols.load(_survey(tmp_path / "other.csv", n=60, seed=2, regions=("pacific", "south")))
    with pytest.raises(DataError, match=r"categories \['pacific'\] the run never saw"):
        fit_target(run, other, "freeze-shared", tmp_path / "bad", train={"steps": 20}, **QUIET)
    assert not (tmp_path / "bad").exists()


def test_the_encoding_decodes_any_model_output_into_the_values_seen(tmp_path):
    data = Columns().load(_survey(tmp_path / "s.csv"))
    transform = MixedTransform.fit(data.x, data.columns["x"])
    rng = np.random.default_rng(0)
    back = transform.inverse(transform.forward(data.x, rng))  # training rows, drawn inside their cells
    assert np.array_equal(back[:, [0, 2, 3, 4]], data.x[:, [0, 2, 3, 4]])  # integers and categories exactly
    assert np.allclose(back[:, 1], data.x[:, 1], rtol=1e-12)
    decoded = transform.inverse(rng.normal(0, 3, (2000, transform.model_width)))  # far outside the data too
    for j, spec in enumerate(data.columns["x"]):
        column = decoded[:, j]
        if spec.kind == "integer":
            assert np.all(column == np.round(column))
            assert data.x[:, j].min() <= column.min() and column.max() <= data.x[:, j].max()
        elif spec.discrete:
            assert set(column) <= set(range(len(spec.categories)))


def test_a_target_its_samples_and_its_test_rows_keep_the_source_runs_column_roles(tmp_path):
    """Column roles named once, at fit-source: fit-target, sample and evaluate reuse them from the run."""
    import json

    from test_cli_workflow import cli

    _survey(tmp_path / "source.csv", n=300)
    _survey(tmp_path / "target.csv", n=120, seed=1, shift=0.3)
    _survey(tmp_path / "test.csv", n=80, seed=2, shift=0.3)
    fast = ["--steps", "40", "--eval-every", "20"]
    # whole numbers declared categorical: the condition file must be read the same way, not as integers
    assert cli("fit-source", "--data", "source.csv", "--family", "flow", "--z-columns", "region,years of schooling",
               "--categorical-columns", "years of schooling", "--x-columns", "wage,children", "--hidden", "16",
               "--out", "src", *fast, cwd=tmp_path).returncode == 0
    out = cli("fit-target", "--source", "src", "--data", "target.csv", "--strategy", "freeze-shared", "--out", "tgt",
              *fast, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    config = json.loads((tmp_path / "tgt" / "config.json").read_text())
    assert config["z_columns"] == ["region", "years of schooling"] and config["x_columns"] == ["wage", "children"]
    out = cli("sample", "--model", "tgt", "--cond", "test.csv", "--n", "1", "--out", "s.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "s.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    # the file's names and order, a row per condition
    assert rows[0] == ["years of schooling", "wage", "region", "children"] and len(rows) == 81
    out = cli("evaluate", "--model", "tgt", "--data", "test.csv", cwd=tmp_path)
    assert out.returncode == 0 and "| tgt | flow | freeze-shared |" in out.stdout, out.stderr
    # told otherwise, the type flags count too: the roles alone read the whole numbers as integers
    roles = ["--x-columns", "wage,children", "--z-columns", "region,years of schooling"]
    out = cli("evaluate", "--model", "tgt", "--data", "test.csv", *roles, cwd=tmp_path)
    assert out.returncode == 2 and "integer here but categorical" in out.stderr
    out = cli("evaluate", "--model", "tgt", "--data", "test.csv", *roles, "--categorical-columns", "years of schooling",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # told otherwise: a flag wins over the run's record
    out = cli("evaluate", "--model", "tgt", "--data", "test.csv", "--x-columns", "wage", cwd=tmp_path)
    assert out.returncode == 2 and "columns" in out.stderr


def test_guard_by_w1_scores_a_typed_table_on_every_column(tmp_path, monkeypatch):
    """--guard-by w1 on a CSV with categorical and boolean columns in x and z: each candidate's draws
    are scored on every column (one-hot categories), with no more rows drawn than MAX_DRAWN allows."""
    import json

    from test_cli_workflow import cli

    import gentransfer.pipeline.sample as sample
    import gentransfer.pipeline.validation as validation

    _survey(tmp_path / "source.csv", n=300)
    _survey(tmp_path / "target.csv", n=120, seed=1, shift=0.3)
    fast = ["--steps", "40", "--eval-every", "20"]
    assert cli("fit-source", "--data", "source.csv", "--family", "flow", "--z-columns", "region",
               "--x-columns", "years of schooling,wage,union,children", "--hidden", "16", "--out", "src", *fast,
               cwd=tmp_path).returncode == 0
    drawn, real = [], sample.sample_table

    def counted(run, n, cond, **kw):
        table = real(run, n, cond, **kw)
        drawn.append(len(table))
        return table

    monkeypatch.setattr(sample, "sample_table", counted)
    monkeypatch.setattr(validation, "MAX_DRAWN", 240)  # 24 validation rows: 10 draws each, not 50
    out = cli("fit-target", "--source", "src", "--data", "target.csv", "--strategy", "auto", "--guard-by", "w1",
              "--out", "tgt", *fast, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert drawn and set(drawn) == {240} and len(drawn) == 3 * validation.DRAWS  # 3 candidates x 5 draws
    report = json.loads((tmp_path / "tgt" / "transfer_report.json").read_text())
    assert report["rule"] == "lowest" and report["n_validation"] == 24
    assert report["chosen"] == min(report["losses"], key=report["losses"].get)
    data = Columns().or_recorded(json.loads((tmp_path / "src" / "config.json").read_text()),
                                 str(tmp_path / "target.csv")).load(tmp_path / "target.csv")
    every, _ = validation.encode_rows(data, data)
    # wage, schooling and children over their sd, union's two and region's four categories one-hot
    assert every.shape == (120, 3 + 2 + 4) and set(np.unique(every[:, -4:])) == {0.0, 1.0}


def test_at_most_max_scored_validation_rows_are_scored_and_always_the_same_ones():
    from gentransfer.pipeline.validation import MAX_SCORED, scored_rows

    few = np.arange(40, 240)
    assert np.array_equal(scored_rows(few, 0), few)
    many = np.arange(5_000)
    picked = scored_rows(many, 3)
    assert len(picked) == MAX_SCORED and np.array_equal(picked, scored_rows(many, 3))
    assert np.all(np.diff(picked) > 0) and not np.array_equal(picked, scored_rows(many, 4))
