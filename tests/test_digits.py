"""MNIST -> USPS wiring with a tiny Diffusers UNet (seconds, not the benchmark)."""

import json

import pytest
import torch

from gentransfer import ConfigError, load_pretrained, transfer
from gentransfer.diffusion.samplers import run_sampler
from gentransfer.digits.study import DigitsStudy, build_jobs, new_model, run_job, source_seed

TINY_UNET = {"block_out_channels": [8, 16], "layers_per_block": 1, "attention": False, "norm_num_groups": 4}
TINY_TRAIN = {"steps": 2, "batch_size": 8, "eval_every": 2, "val_fraction": 0.05}
SCORED = 100  # held-out images scored where a test does not check the floor of all 2,188 (exact W1 is cubic)


def tiny_study(**kw) -> DigitsStudy:
    settings = {"n_source": [60], "unet": TINY_UNET, "source_train": TINY_TRAIN, "target_train": TINY_TRAIN,
                "sample_steps": 2, "device": "cpu"}
    return DigitsStudy(**{**settings, **kw})


def test_class_embedding_is_the_shared_part_and_stays_frozen():
    torch.manual_seed(0)
    source = new_model(tiny_study().to_dict())
    assert source.embedding.table.weight.shape == (10, 32)  # 4 x the first UNet width
    target = transfer(source, "freeze-shared")
    before = target.embedding.table.weight.detach().clone()
    x = torch.rand(40, 256) * 2 - 1
    y = torch.randint(0, 10, (40, 1)).float()
    from gentransfer import fit

    fit(target, x, y, steps=3, batch_size=8, eval_every=3)
    assert torch.equal(target.embedding.table.weight, before)
    assert torch.equal(target.embedding.table.weight, source.embedding.table.weight)


def test_unet_model_round_trips(tmp_path):
    torch.manual_seed(0)
    model = new_model(tiny_study().to_dict())
    model.save_pretrained(tmp_path / "unet")
    loaded = load_pretrained(tmp_path / "unet")
    y = torch.arange(10)[:, None].float()
    a = model.sample(y, generator=torch.Generator().manual_seed(3))
    b = loaded.sample(y, generator=torch.Generator().manual_seed(3))
    assert a.shape == (10, 256) and torch.equal(a, b)


def test_digit_job_rows_and_outputs(real_data_root, tmp_path):
    study = tiny_study(strategies=["freeze-shared"])
    job = [j for j in build_jobs(study) if j["n_s"] > 0][0]
    (row,) = run_job(job, str(tmp_path))
    assert row["strategy"] == "freeze-shared" and row["n_t"] == row["n_fit"] == 5103
    assert row["W1_floor"] == pytest.approx(3.5285, abs=1e-3)
    assert row["W1"] > row["W1_floor"] and all(row[f"W1_digit{d}"] > 0 for d in range(10))
    out = tmp_path / "models" / "mnist-ns60-nt5103-seed0"
    assert (tmp_path / "sources" / "mnist-ns60-seed0" / "model" / "model.safetensors").is_file()
    assert (out / "target-freeze-shared" / "config.json").is_file()  # a fit-target run folder
    assert (out / "target-freeze-shared.png").is_file() and (out / "target-freeze-shared.json").is_file()


def test_eval_size_scores_a_stratified_subset_beside_a_floor_of_the_same_size(real_data_root, tmp_path):
    study = tiny_study(strategies=["scratch"], n_target=[50], eval_size=200)
    (row,) = run_job(build_jobs(study)[0], str(tmp_path))
    # the floor is W1 between 200 held-out and 200 fit images: above the 3.5285 of all 2,188
    assert row["W1_floor"] == pytest.approx(4.4390, abs=1e-3)
    png = tmp_path / "models" / "mnist-ns0-nt50-seed0" / "target-scratch.png"
    assert png.is_file()
    for bad in (50, 2189):
        with pytest.raises(ConfigError, match="eval_size must be"):
            build_jobs(tiny_study(eval_size=bad))
    with pytest.raises(ConfigError, match="conditional setting"):
        build_jobs(tiny_study(setting="unconditional", strategies=["scratch"], eval_size=200))


def test_a_run_folder_from_before_eval_size_still_resumes(tmp_path):
    from gentransfer.experiments.folder import open_run_dir

    defaults = DigitsStudy().to_dict()
    old = {"study": "digits", **tiny_study().to_dict()}
    del old["eval_size"]  # what every run folder written before the key holds
    run = open_run_dir(tmp_path / "run", old)
    assert open_run_dir(run, {"study": "digits", **tiny_study().to_dict()}, defaults=defaults) == run
    with pytest.raises(ConfigError, match="different config"):  # not the default: not the old run
        open_run_dir(run, {"study": "digits", **tiny_study(eval_size=200).to_dict()}, defaults=defaults)
    with pytest.raises(ConfigError, match="different config"):  # without defaults, a new key differs
        open_run_dir(run, {"study": "digits", **tiny_study().to_dict()})


def test_the_command_line_resumes_a_digits_run_written_before_a_setting_existed(tmp_path, monkeypatch):
    import json

    import gentransfer.experiments
    from gentransfer.cli import main

    old = {"study": "digits", **DigitsStudy().to_dict()}
    del old["eval_size"]
    del old["target_train"]["val_repeats"]  # a nested setting added later, too
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(old))
    monkeypatch.setattr(gentransfer.experiments, "run_experiment", lambda *a, **k: "(resumed)")
    assert main(["digits", "conditional", "--out", str(run), "--no-progress"]) == 0
    assert main(["digits", "conditional", "--out", str(run), "--no-progress", "--eval-size", "500"]) == 2


def test_unconditional_setting_refuses_freeze_shared():
    with pytest.raises(ConfigError, match="freeze-shared needs a shared part"):
        build_jobs(tiny_study(setting="unconditional"))


@pytest.mark.parametrize("name,steps,sd_tol", [("ddpm", 1000, 0.03), ("ddim", 50, 0.03), ("dpm++", 20, 0.01),
                                                ("sde-dpm++", 20, 0.03)])
def test_diffusers_samplers_follow_the_same_process(name, steps, sd_tol):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_diffusion import MU, SCHEDULE, SD, exact_eps

    gen = torch.Generator().manual_seed(0)
    x = run_sampler(name, exact_eps, SCHEDULE, torch.randn(20000, 2, generator=gen), steps, gen)
    assert torch.allclose(x.mean(0), MU, atol=0.03)
    # DDIM is first order and uniform in time: ~5% too narrow at 50 steps; DPM++ on a log-SNR grid: <2%
    assert torch.allclose(x.std(0), torch.full((2,), SD), atol=sd_tol)


def test_fast_sampler_resolves_near_constant_directions():
    """Pixels that are almost always -1 or 1 are low-variance directions, settled at low noise."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_diffusion import SCHEDULE

    sd = 0.1

    def eps(x, t):
        m, sig = SCHEDULE.marginal(t)
        return sig[:, None] * x / (m[:, None] ** 2 * sd**2 + sig[:, None] ** 2)

    gen = torch.Generator().manual_seed(0)
    x = run_sampler("dpm++", eps, SCHEDULE, torch.randn(20000, 2, generator=gen), 20, gen)
    assert torch.allclose(x.std(0), torch.full((2,), sd), rtol=0.03)  # time-uniform DPM++: 0.49 sd


def test_target_subsets_are_class_stratified_and_nested():
    import numpy as np

    from gentransfer.data import stratified_subset

    y = np.random.default_rng(1).integers(0, 10, 5103)
    subsets = {n: stratified_subset(y, n, seed=3) for n in (50, 200, 1000, 5103)}
    assert set(subsets[50]) < set(subsets[200]) < set(subsets[1000]) < set(subsets[5103])
    assert (subsets[5103] == np.arange(5103)).all()  # the whole split, in its own order
    share = np.bincount(y) / len(y)
    for n, idx in subsets.items():
        assert len(idx) == n and np.abs(np.bincount(y[idx], minlength=10) - n * share).max() <= 1.0
    assert not np.array_equal(stratified_subset(y, 50, seed=4), subsets[50])  # seeded


def test_target_size_axis_makes_jobs_per_n_t():
    study = tiny_study(n_target=[50, 5103], seeds=[0, 1])
    jobs = build_jobs(study)
    assert sorted({(j["n_t"], j["seed"]) for j in jobs}) == [(50, 0), (50, 1), (5103, 0), (5103, 1)]
    with pytest.raises(ConfigError, match="n_target values"):
        build_jobs(tiny_study(n_target=[6000]))


def test_small_target_lora_and_source_only_arms(real_data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GENTRANSFER_CACHE", str(tmp_path / "cache"))  # the classifier is built there
    study = tiny_study(strategies=["lora", "source-only"], n_target=[50], feature_metrics=True, eval_size=SCORED)
    job = [j for j in build_jobs(study) if j["n_s"] > 0][0]
    lora, source_only = run_job(job, str(tmp_path))
    for row in (lora, source_only):  # an untrained model is far from USPS in the classifier's features
        assert row["FD"] > 10 * row["FD_floor"] and row["KID"] > row["KID_floor"]
        assert row["cond_acc_real"] > 0.95 and 0 <= row["cond_acc"] <= 1 and 0 <= row["memorisation"] <= 1
    assert (lora["strategy"], lora["n_t"], lora["n_fit"]) == ("lora", 50, 50) and lora["steps"] == 2
    assert source_only["strategy"] == "source-only" and source_only["steps"] == 0
    assert lora["W1"] > lora["W1_floor"] and source_only["W1"] > source_only["W1_floor"]
    from gentransfer.digits.grid import arm_panel

    assert arm_panel(tmp_path, 50, 0, tmp_path / "arms.png").read_bytes()[:4] == b"\x89PNG"


def test_source_budget_grows_with_the_source():
    from gentransfer.digits.study import source_budget

    train = {"steps": 1000, "batch_size": 128, "patience": 4}
    assert source_budget(train, 0, 60000) == train  # the fixed budget of the first design
    assert source_budget(train, 20, 1000)["steps"] == 1000  # never below the base budget
    assert source_budget(train, 20, 60000) == {**train, "steps": 9375}  # 20 passes over 60,000 images


def test_source_is_trained_once_and_reused_across_target_sizes_and_seeds(real_data_root, tmp_path):
    study = tiny_study(strategies=["freeze-shared"], n_source=[60, 60000], n_target=[50, 200], eval_size=SCORED,
                       n_source_sweep_at=[50], seeds=[0, 1], source_train={**TINY_TRAIN, "steps": 1})
    jobs = [j for j in build_jobs(study) if j["n_s"] > 0]
    # the n_s sweep only where asked: n_t = 50 at both sizes, n_t = 200 at the largest only
    assert sorted((j["seed"], j["n_t"], j["n_s"]) for j in jobs) == [
        (0, 50, 60), (0, 50, 60000), (0, 200, 60000), (1, 50, 60), (1, 50, 60000), (1, 200, 60000)]
    full = [j for j in jobs if j["n_s"] == 60000]
    rows = [run_job(j, str(tmp_path))[0] for j in full]
    # one source model per seed, also on all of MNIST (its seed fixes its weights, batches and split),
    # trained once and read back by the seed's other target sizes
    assert sorted(p.name for p in (tmp_path / "sources").iterdir() if not p.name.startswith(".")) == [
        "mnist-ns60000-seed0", "mnist-ns60000-seed1"]
    assert [r["source_seed"] for r in rows] == [r["seed"] for r in rows]
    assert len({r["source_seconds"] for r in rows if r["seed"] == 0}) == 1
    reused = load_pretrained(tmp_path / "sources" / "mnist-ns60000-seed0" / "model")
    y = torch.arange(10)[:, None].float()
    again = load_pretrained(tmp_path / "models" / "mnist-ns60000-nt50-seed0" / "target-freeze-shared" / "model")
    assert torch.equal(reused.embedding.table.weight, again.embedding.table.weight)  # frozen h = the source's
    assert source_seed(60, 1, "mnist") == 1 and source_seed(60000, 1, "mnist") == 1
    assert reused.sample(y, generator=torch.Generator().manual_seed(0)).shape == (10, 256)
    with pytest.raises(ConfigError, match="n_source_sweep_at"):
        build_jobs(tiny_study(n_target=[50], n_source_sweep_at=[200]))


def test_a_digits_job_is_the_command_line_run_by_hand(real_data_root, tmp_path):
    """The digits benchmark is a preset over the command line: its job and `data export` /
    `fit-source` / `fit-target` typed by hand with the job's settings (fresh weights seeded with
    seed + 1, freeze-shared warm-started) give bit-identical models under every strategy."""
    from gentransfer.cli import main
    from gentransfer.config import load_pretrained

    unet = {"block_out_channels": [8, 16, 16], "layers_per_block": 1, "attention": False, "norm_num_groups": 8}
    train = {"steps": 2, "batch_size": 8, "eval_every": 2, "val_fraction": 0.05, "lr": 1e-3, "ema_decay": 0.9,
             "patience": 4, "val_repeats": 2}
    study = tiny_study(unet=unet, source_train=train, target_train=train, n_target=[50], warm_start=True,
                       eval_size=SCORED, strategies=["scratch", "freeze-shared", "finetune", "lora"])
    for job in build_jobs(study):
        run_job(job, str(tmp_path / "bench"))

    def cli(*argv: str) -> None:
        assert main([str(a) for a in argv]) == 0

    cli("data", "export", "mnist", "--n", 60, "--seed", 0, "--format", "npz", "--out", tmp_path / "mnist.npz")
    cli("data", "export", "usps-fit", "--n", 50, "--seed", 0, "--format", "npz", "--out", tmp_path / "usps.npz")
    model = ["--block-out-channels", "8,16,16", "--layers-per-block", 1, "--norm-num-groups", 8,
             "--sampler", study.sampler, "--sample-steps", study.sample_steps]
    fits = [a for k, v in train.items() for a in (f"--{k.replace('_', '-')}", v)] + ["--seed", 0]
    cli("fit-source", "--data", tmp_path / "mnist.npz", "--family", "diffusion", "--out", tmp_path / "cli-source",
        *model, *fits)
    cli("fit-source", "--data", tmp_path / "usps.npz", "--family", "diffusion", "--out", tmp_path / "cli-scratch",
        *model, *fits, "--init-seed", 1)
    for strategy in ("freeze-shared", "finetune", "lora"):
        warm = ["--warm-start"] if strategy == "freeze-shared" else []
        cli("fit-target", "--source", tmp_path / "cli-source", "--data", tmp_path / "usps.npz", "--strategy", strategy,
            "--out", tmp_path / f"cli-{strategy}", *fits, "--init-seed", 1, *warm)

    bench = tmp_path / "bench" / "models"
    pairs = [(tmp_path / "bench" / "sources" / "mnist-ns60-seed0", tmp_path / "cli-source"),
             (bench / "mnist-ns0-nt50-seed0" / "target-scratch", tmp_path / "cli-scratch")]
    pairs += [(bench / "mnist-ns60-nt50-seed0" / f"target-{s}", tmp_path / f"cli-{s}")
              for s in ("freeze-shared", "finetune", "lora")]
    for ours, theirs in pairs:
        a, b = load_pretrained(ours / "model").state_dict(), load_pretrained(theirs / "model").state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), ours.name


def test_a_rerun_reads_finished_fits_back_and_refits_what_changed(real_data_root, tmp_path):
    """A job run again reads its finished run folders back; with other training settings (a study
    re-run with --overwrite) it fits again in their place; a killed fit whose checkpoint belongs to
    other settings starts afresh instead of failing."""
    import json

    from gentransfer.pipeline import fit_source

    study = tiny_study(strategies=["freeze-shared"], n_target=[50], eval_size=SCORED)
    (job,) = [j for j in build_jobs(study) if j["n_s"] > 0]
    arm = tmp_path / "models" / "mnist-ns60-nt50-seed0" / "target-freeze-shared"
    (first,) = run_job(job, str(tmp_path))
    stamp = (arm / "metrics.json").stat().st_mtime_ns
    assert not (arm / "checkpoints").exists()  # a finished benchmark fit keeps no training state
    (again,) = run_job(job, str(tmp_path))
    assert (arm / "metrics.json").stat().st_mtime_ns == stamp and again["W1"] == first["W1"]

    source = tmp_path / "sources" / "mnist-ns60-seed0"
    source_stamp = (source / "metrics.json").stat().st_mtime_ns
    longer = tiny_study(strategies=["freeze-shared"], n_target=[50], target_train={**TINY_TRAIN, "steps": 4},
                        eval_size=SCORED)
    (job4,) = [j for j in build_jobs(longer) if j["n_s"] > 0]
    (row,) = run_job(job4, str(tmp_path))
    assert row["steps"] == 4 and json.loads((arm / "config.json").read_text())["recipe"]["train"]["steps"] == 4
    assert (source / "metrics.json").stat().st_mtime_ns == source_stamp  # the source's recipe held: kept

    # another source: the source is fitted again, and so is the arm built on it
    other_source = tiny_study(strategies=["freeze-shared"], n_target=[50], target_train={**TINY_TRAIN, "steps": 4},
                              eval_size=SCORED,
                              source_train={**TINY_TRAIN, "steps": 3})
    (job3,) = [j for j in build_jobs(other_source) if j["n_s"] > 0]
    run_job(job3, str(tmp_path))
    assert json.loads((source / "metrics.json").read_text())["steps"] == 3
    assert json.loads((arm / "config.json").read_text())["recipe"]["source"]["train"]["steps"] == 3

    # a killed fit of other data waits in scratch's staging folder: its checkpoint is refused, the fit restarts
    import shutil

    import numpy as np

    from gentransfer.data.tabular import Table

    rng = np.random.default_rng(0)
    noise = Table(x=rng.random((40, 256)), z=rng.integers(0, 10, (40, 1)).astype(float), image_shape=(1, 16, 16))
    scratch_job = build_jobs(tiny_study(strategies=["scratch"], n_target=[50], eval_size=SCORED))[0]
    run_job(scratch_job, str(tmp_path))
    done = tmp_path / "models" / "mnist-ns0-nt50-seed0" / "target-scratch"
    recipe = json.loads((done / "config.json").read_text())["recipe"]
    shutil.rmtree(done)
    killed = done.with_name(".target-scratch.partial")
    fit_source(noise, "diffusion", killed, model={**TINY_UNET, "sampler": study.sampler, "sample_steps": 2},
               train={**TINY_TRAIN, "steps": 4}, log=lambda *a: None)
    (killed / "config.json").unlink()  # a killed run has no config.json yet
    done.with_name(".target-scratch.recipe.json").write_text(json.dumps(recipe))  # ... and said what it fits
    assert (killed / "checkpoints").is_dir()
    (scratch,) = run_job(scratch_job, str(tmp_path))
    assert scratch["steps"] == 2 and not killed.exists() and not done.with_name(".target-scratch.recipe.json").exists()
    assert json.loads((done / "config.json").read_text())["recipe"] == recipe


def test_arms_on_equal_footing_record_how_their_fit_ended(real_data_root, tmp_path):
    study = tiny_study(strategies=["freeze-shared", "freeze-shared-warm", "finetune", "domain-guidance"],
                       warm_start=False, target_lr_scale=1.0, n_target=[50], eval_size=SCORED,
                       target_train={**TINY_TRAIN, "steps": 4, "lr": 1e-3, "val_fraction": 0.1})
    job = [j for j in build_jobs(study) if j["n_s"] > 0][0]
    sec, warm, finetune, guided = run_job(job, str(tmp_path))
    out = tmp_path / "models" / "mnist-ns60-nt50-seed0"
    for row in (sec, warm, finetune):
        metrics = json.loads((out / f"target-{row['strategy']}" / "metrics.json").read_text())
        assert row["best_step"] == metrics["best_step"] in (2, 4) and row["n_val"] == 5  # 10% of 50 images
        assert row["lr"] == 1e-3 and row["plateau"] is False  # one rate for every arm; the budget ended it
        assert row["source_best_step"] in (2,) and row["source_plateau"] is False
    plans = {arm: json.loads((out / f"target-{arm}" / "model" / "config.json").read_text())["transfer_plan"]
             for arm in ("freeze-shared", "freeze-shared-warm")}
    assert plans["freeze-shared"]["warm_start"] is False and plans["freeze-shared-warm"]["warm_start"] is True
    assert plans["freeze-shared"]["frozen"] == plans["freeze-shared-warm"]["frozen"] == ["embedding"]
    # Domain Guidance samples the finetune arm's model: the same fit, a weight from the grid
    assert guided["guidance_weight"] in study.guidance_weights and finetune["guidance_weight"] == ""
    assert (guided["best_step"], guided["steps"]) == (finetune["best_step"], finetune["steps"])
    assert not (out / "target-domain-guidance").exists()
    with pytest.raises(ConfigError, match="run twice"):
        build_jobs(tiny_study(strategies=["freeze-shared", "freeze-shared-warm"], warm_start=True))
    with pytest.raises(ConfigError, match="finetune"):
        build_jobs(tiny_study(strategies=["domain-guidance"]))


def test_a_target_fit_is_evaluated_every_few_passes_over_its_images():
    from gentransfer.digits.study import target_budget

    train = {"steps": 20000, "batch_size": 128, "eval_every": 100, "val_fraction": 0.1}
    every = {n: target_budget(train, 10, n, seed=3)["eval_every"] for n in (50, 200, 1000, 5103)}
    assert every == {50: 10, 200: 14, 1000: 70, 5103: 100}  # 45 images: a pass a step; 4,593: capped at 100
    assert target_budget(train, 0, 50, seed=3) == {**train, "seed": 3}  # 0: the settings as they are
    with pytest.raises(ConfigError, match="target_eval_passes"):
        build_jobs(tiny_study(target_eval_passes=-1))
