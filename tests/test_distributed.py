"""The training loop under torchrun: 2 gloo processes follow the 1-process trajectory."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import atexit, json, os, sys, torch
    from gentransfer import DiffusionModel, fit
    from gentransfer.training.distributed import world

    def gloo_threads_joined():
        # Registered before the process group exists, so it runs after gentransfer's own exit hook
        # (atexit runs last-registered first): leaving the group must have joined gloo's threads,
        # not left them to be torn down in interpreter shutdown while the other rank exits.
        live = []
        for task in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []:
            try:
                live.append(open(f"/proc/self/task/{task}/comm").read().strip())
            except OSError:  # the thread ended meanwhile
                pass
        if any("gloo" in name for name in live):
            sys.stderr.write(f"gloo threads still running at exit: {live}\\n")
            sys.stderr.flush()
            os._exit(3)

    atexit.register(gloo_threads_joined)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(300, 2, generator=gen)
    x = torch.cat([z.sum(1, keepdim=True), z[:, :1]], 1) + 0.1 * torch.randn(300, 2, generator=gen)
    torch.manual_seed(1)
    model = DiffusionModel(x_dim=2, z_dim=2, hidden=32, depth=2)
    result = fit(model, x, z, steps=40, batch_size=64, eval_every=1, patience=100, seed=2,
                 checkpoint_dir=sys.argv[1], checkpoint_every=10, resume=len(sys.argv) > 3)
    rank, size = world()
    if rank == 0:
        json.dump({"world": size, "losses": [h["train_loss"] for h in result.history]}, open(sys.argv[2], "w"))
    """
)


def _single(tmp_path, script):
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "c1"), str(tmp_path / "one.json")],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    return json.loads((tmp_path / "one.json").read_text())


def test_accelerate_launch_runs_the_same_loop(tmp_path):
    """`accelerate launch --multi_gpu` starts processes through torch.distributed.run; on a CPU
    machine they join with gloo, and the loop is the same."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    a = _single(tmp_path, script)
    launcher = [sys.executable, "-c", "from accelerate.commands.launch import main; main()"]
    out = subprocess.run([*launcher, "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
                          str(script), str(tmp_path / "c3"), str(tmp_path / "acc.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    b = json.loads((tmp_path / "acc.json").read_text())
    assert b["world"] == 2
    assert max(abs(p - q) for p, q in zip(a["losses"], b["losses"], strict=True)) < 1e-5


def test_two_gloo_processes_match_one(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "c1"), str(tmp_path / "one.json")],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), str(tmp_path / "c2"), str(tmp_path / "two.json")],
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert (a["world"], b["world"]) == (1, 2)
    assert len(a["losses"]) == len(b["losses"]) == 40
    assert max(abs(p - q) for p, q in zip(a["losses"], b["losses"], strict=True)) < 1e-5
    # rank 0 alone wrote the checkpoint, and a single process (another world size) reads it back
    assert (tmp_path / "c2" / "train_state.safetensors").is_file()
    again = subprocess.run([sys.executable, str(script), str(tmp_path / "c2"), str(tmp_path / "again.json"), "resume"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again.json").read_text())["losses"] == b["losses"]


DIGITS_JOB = textwrap.dedent(
    """
    import json, sys, torch
    from gentransfer.digits.study import DigitsStudy, build_jobs, run_job
    from gentransfer.training.distributed import world

    torch.set_num_threads(1)
    train = {"steps": 2, "batch_size": 8, "eval_every": 2, "val_fraction": 0.05}
    study = DigitsStudy(n_source=[60], n_target=[50], strategies=["freeze-shared"], sample_steps=2, device="cpu",
                        unet={"block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4},
                        source_train=train, target_train=train, eval_size=100)
    (job,) = build_jobs(study)
    (row,) = run_job(job, sys.argv[1])
    if world()[0] == 0:
        json.dump(row, open(sys.argv[2], "w"))
    """
)


def test_a_digits_job_under_torchrun_fits_together_then_reads_back_together(real_data_root, tmp_path):
    """Under torchrun every process acts on the first one's decision: a first launch fits the source
    and the arm on both processes (rank 0 keeps the run folders), a second launch reads them back on
    both (no process trains alone, which would leave the other waiting in DDP)."""
    script = tmp_path / "job.py"
    script.write_text(DIGITS_JOB)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
              str(tmp_path / "run")]
    first = subprocess.run([*launch, str(tmp_path / "first.json")], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    arm = tmp_path / "run" / "models" / "mnist-ns60-nt50-seed0" / "target-freeze-shared"
    stamp = (arm / "metrics.json").stat().st_mtime_ns
    again = subprocess.run([*launch, str(tmp_path / "again.json")], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("first", "again"))
    assert (arm / "metrics.json").stat().st_mtime_ns == stamp  # read back, not refitted
    assert a["W1"] == b["W1"] and a["steps"] == b["steps"] == 2
