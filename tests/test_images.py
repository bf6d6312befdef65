"""Image data from files (issue 16): PNG folders, 4-D npz arrays, the pixel scale and the UNet builder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gentransfer.data import load_table
from gentransfer.data.images import PixelScale, load_image_folder
from gentransfer.diffusion.unet import unet_diffusion
from gentransfer.errors import CheckpointError, ConfigError, DataError


def _png(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def test_class_folders_become_sorted_labels_and_flat_unit_pixels(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for c, n in (("zebra", 2), ("apple", 3)):
        for i in range(n):
            a = rng.integers(0, 256, size=(4, 4), dtype=np.uint8)
            pixels[(c, i)] = a
            _png(tmp_path / "data" / c / f"{i}.png", a)
    t = load_table(tmp_path / "data")
    assert t.image_shape == (1, 4, 4) and t.classes == ("apple", "zebra")
    assert t.x.shape == (5, 16) and t.z[:, 0].tolist() == [0, 0, 0, 1, 1]
    assert np.array_equal(t.x[3].reshape(4, 4), pixels[("zebra", 0)] / 255.0)  # exact, row order kept


def test_numeric_class_folders_sort_as_numbers(tmp_path):
    for c in ("10", "9", "100"):
        _png(tmp_path / "d" / c / "0.png", np.full((4, 4), int(c), np.uint8))
    t = load_image_folder(tmp_path / "d")
    assert t.classes == ("9", "10", "100") and t.z[:, 0].tolist() == [0, 1, 2]
    assert t.x[:, 0].tolist() == [9 / 255, 10 / 255, 100 / 255]
    for c in ("b10", "a9"):  # names, not numbers: text order
        _png(tmp_path / "n" / c / "0.png", np.zeros((4, 4), np.uint8))
    assert load_image_folder(tmp_path / "n").classes == ("a9", "b10")


def test_16_bit_pngs_keep_their_16_bits_beside_8_bit_ones(tmp_path):
    dark = np.full((4, 4), 200, np.uint16)
    dark[0, 0] = 65535
    _png(tmp_path / "d" / "a" / "0.png", dark)
    _png(tmp_path / "d" / "a" / "1.png", np.full((4, 4), 30000, np.uint16))
    _png(tmp_path / "d" / "b" / "0.png", np.full((4, 4), 51, np.uint8))  # 8 bits: 51 / 255 = 0.2
    assert Image.open(tmp_path / "d" / "a" / "0.png").mode == "I;16"
    t = load_image_folder(tmp_path / "d")
    assert t.x[0, 0] == 1.0 and t.x[0, 1] == 200 / 65535 and np.all(t.x[1] == 30000 / 65535)
    assert np.all(t.x[2] == 0.2)
    x = np.full((2, 1, 4, 4), 65535, np.uint16)
    x[0] = 0
    np.savez(tmp_path / "u16.npz", x=x)
    assert load_table(tmp_path / "u16.npz").x[:, 0].tolist() == [0.0, 1.0]


def test_flat_folder_is_unconditional_and_rgb_keeps_channels_first(tmp_path):
    a = np.zeros((4, 4, 3), np.uint8)
    a[..., 2] = 255
    _png(tmp_path / "f" / "0.png", a)
    _png(tmp_path / "f" / "1.png", a)
    t = load_image_folder(tmp_path / "f")
    assert t.z is None and t.image_shape == (3, 4, 4)
    assert t.x[0].reshape(3, 4, 4)[2].min() == 1.0 and t.x[0].reshape(3, 4, 4)[:2].max() == 0.0


def test_npz_images_uint8_and_float(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, size=(6, 1, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "u8.npz", x=x, z=np.arange(6) % 2)
    t = load_table(tmp_path / "u8.npz")
    assert t.image_shape == (1, 4, 4) and np.allclose(t.x, x.reshape(6, -1) / 255.0) and t.z.shape == (6, 1)
    np.savez(tmp_path / "extra.npz", x=x, zc=np.zeros(6))
    with pytest.raises(DataError, match="keep only x and class labels z"):
        load_table(tmp_path / "extra.npz")
    np.savez(tmp_path / "frac.npz", x=x / 255.0, z=np.array([0, 1, 0.5, 1, 0, 1]))
    with pytest.raises(DataError, match="whole numbers"):
        load_table(tmp_path / "frac.npz")


def test_pixel_scale_round_trip_clips_and_checks_its_record():
    s = PixelScale((1, 2, 2))
    x = np.array([[0.0, 0.25, 0.5, 1.0]])
    assert np.allclose(s.inverse(s.forward(x)), x)
    assert s.inverse(np.array([[-3.0, 3.0, 0.0, 0.0]])).tolist() == [[0.0, 1.0, 0.5, 0.5]]
    assert PixelScale.from_dict(s.to_dict(), 4, "here") == s
    with pytest.raises(CheckpointError):
        PixelScale.from_dict({"image_shape": [1, 2, 2]}, 5, "here")
    assert s.log_abs_det(x)[0] == pytest.approx(4 * np.log(2.0))


def test_unet_builder_refuses_shapes_the_unet_cannot_take():
    with pytest.raises(DataError, match="square"):
        unet_diffusion((1, 8, 6), block_out_channels=[8, 16])
    with pytest.raises(DataError, match="divisible by 4"):
        unet_diffusion((1, 6, 6), block_out_channels=[8, 16, 16])
    with pytest.raises(ConfigError, match="norm_num_groups"):
        unet_diffusion((1, 8, 8), block_out_channels=[12, 24])
    torch.manual_seed(0)
    m = unet_diffusion((3, 8, 8), n_classes=4, block_out_channels=[8, 16], norm_num_groups=4)
    assert m.x_dim == 192 and m.embedding.config["n_classes"] == 4
    with pytest.raises(DataError, match="unknown class label"):
        m.sample([[4]])


def test_digits_export_is_the_benchmarks_data_as_files(real_data_root, tmp_path, monkeypatch):
    """`gentransfer data export`: the digits benchmark's images, exactly (npz) and as PNG class folders."""
    from gentransfer.cli import main
    from gentransfer.data import stratified_subset, usps_paper_split

    monkeypatch.chdir(tmp_path)
    assert main(["data", "export", "usps-fit", "--n", "30", "--format", "npz", "--out", "u.npz"]) == 0
    assert main(["data", "export", "usps-fit", "--n", "30", "--out", "u"]) == 0
    split = usps_paper_split(seed=0)
    idx = stratified_subset(split.fit_y, 30, seed=0)
    exact, folder = load_table(tmp_path / "u.npz"), load_table(tmp_path / "u")
    assert np.allclose(exact.x, split.fit_x[idx].reshape(30, -1).numpy(), atol=1e-7)
    assert exact.z[:, 0].tolist() == split.fit_y[idx].tolist()
    order = np.argsort(exact.z[:, 0], kind="stable")  # the folder lists class by class, in export order
    assert folder.classes == tuple(str(d) for d in range(10))
    assert np.array_equal(folder.z[:, 0], exact.z[order, 0])
    assert np.abs(folder.x - exact.x[order]).max() <= 0.5 / 255 + 1e-6  # 8-bit PNG rounding only


def test_target_class_folders_map_to_the_source_classes_by_name(tmp_path):
    from gentransfer.pipeline.kinds import image_labels as _image_labels

    for c in ("vertical", "horizontal"):
        _png(tmp_path / "t" / c / "0.png", np.zeros((4, 4), np.uint8))
    t = load_table(tmp_path / "t")  # its own order: horizontal 0, vertical 1
    mapped = _image_labels(t, {"classes": ["diagonal", "horizontal", "vertical"]}, "src")
    assert t.z[:, 0].tolist() == [0, 1] and mapped.z[:, 0].tolist() == [1, 2]
    with pytest.raises(DataError, match="'vertical' is unknown to the source"):
        _image_labels(t, {"classes": ["diagonal", "horizontal"]}, "src")
    with pytest.raises(DataError, match="numbered classes"):
        _image_labels(t, {"classes": None}, "src")
