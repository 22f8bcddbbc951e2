"""The RadioGalaxyNET layout: byte-packed PNGs (R = IR, G = radio low, B = radio high byte)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from napari_radiogal.errors import CocoFormatError, InputImageError, InputImageWarning
from napari_radiogal.io.paths import resolve_image_path
from napari_radiogal.io.radiogalaxynet import (
    LAYOUT,
    decode_radiogalaxynet_rgb,
    encode_radiogalaxynet_rgb,
    read_radiogalaxynet,
    read_radiogalaxynet_png,
    write_radiogalaxynet_png,
)

CATEGORIES = [
    {"id": 1, "name": "FR-II", "keypoints": ["host"], "skeleton": []},
    {"id": 2, "name": "FR-I", "keypoints": ["host"], "skeleton": []},
    {"id": 3, "name": "FR-X", "keypoints": ["host"], "skeleton": []},
    {"id": 4, "name": "R", "keypoints": ["host"], "skeleton": []},
]


def test_decoding_is_exact_on_known_bytes(tmp_path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (51, 0x34, 0x12)  # IR 51/255 = 0.2; radio 0x1234 = 4660 -> 4660/65535
    rgb[0, 1] = (255, 0xFF, 0xFF)  # both at full scale: 1.0
    rgb[1, 2] = (0, 0x01, 0x00)  # the smallest radio step 1/65535
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)  # written by PIL itself, not by our encoder
    radio, ir = read_radiogalaxynet_png(path)
    assert radio.dtype == ir.dtype == np.float32 and radio.shape == (2, 3)
    assert radio[0, 0] == np.float32(4660 / 65535)
    assert ir[0, 0] == np.float32(0.2)
    assert radio[0, 1] == 1.0 and ir[0, 1] == 1.0
    assert radio[1, 2] == np.float32(1 / 65535)
    assert radio[1, 0] == 0.0 and ir[1, 0] == 0.0


def test_round_trip_of_a_float_radio_image_quantised_to_16_bits(tmp_path):
    rng = np.random.default_rng(0)
    radio = rng.random((21, 17))
    radio[3, 4], radio[5, 6] = 0.0, 1.0
    ir = rng.random((21, 17))
    path = write_radiogalaxynet_png(tmp_path / "img.png", radio, ir)
    radio_back, ir_back = read_radiogalaxynet_png(path)
    # exactly the 16-bit (radio) and 8-bit (IR) quantisation, nothing else
    assert np.array_equal(radio_back, (np.rint(radio * 65535) / 65535).astype(np.float32))
    assert np.array_equal(ir_back, (np.rint(ir * 255) / 255).astype(np.float32))
    assert np.abs(radio_back - radio).max() <= 0.5 / 65535 + 1e-7
    # and the bytes are where the paper says
    rgb = np.asarray(Image.open(path))
    v16 = np.rint(radio * 65535).astype(np.uint32)
    assert np.array_equal(rgb[..., 2], v16 >> 8) and np.array_equal(rgb[..., 1], v16 & 0xFF)
    assert np.array_equal(
        decode_radiogalaxynet_rgb(encode_radiogalaxynet_rgb(radio_back, ir_back))[0], radio_back
    )


def test_out_of_range_values_are_clipped_with_a_warning():
    with pytest.warns(InputImageWarning, match="clipped"):
        rgb = encode_radiogalaxynet_rgb(np.array([[-0.5, 2.0, np.nan]]))
    assert rgb[0, :, 2].tolist() == [0, 255, 0]


def test_non_rgb_png_and_jpeg_are_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(InputImageError, match="mode 'L'"):
        read_radiogalaxynet_png(tmp_path / "grey.png")
    with pytest.raises(InputImageError, match="lossless PNG"):
        write_radiogalaxynet_png(tmp_path / "x.jpg", np.zeros((4, 4)))
    with pytest.raises(InputImageError, match="no such"):
        read_radiogalaxynet_png(tmp_path / "absent.png")


def make_layout(root, split="train", folder_suffix="2017"):
    """Two 12x10 images: a polygon FR-II with two lobes and host, an RLE-free R without host."""
    images_dir = root / f"{split}{folder_suffix}"
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.png"):
        write_radiogalaxynet_png(images_dir / name, rng.random((12, 10)), rng.random((12, 10)))
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 12, "width": 10},
            {"id": 2, "file_name": "b.png", "height": 12, "width": 10},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "area": 12,
                "segmentation": [[0, 0, 2, 0, 2, 3, 0, 3], [7, 8, 10, 8, 10, 10, 7, 10]],
                "bbox": [0, 0, 10, 10],
                "keypoints": [4, 5, 2],
                "num_keypoints": 1,
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 4,
                "iscrowd": 0,
                "area": 4,
                "segmentation": [[3, 3, 5, 3, 5, 5, 3, 5]],
                "bbox": [3, 3, 2, 2],
                "keypoints": [0, 0, 0],
                "num_keypoints": 0,
            },
        ],
        "categories": CATEGORIES,
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    ann = root / "annotations" / f"instances_{split}2017.json"
    ann.write_text(json.dumps(coco))
    return ann


def test_read_radiogalaxynet_layout(tmp_path):
    ann = make_layout(tmp_path)
    ds = read_radiogalaxynet(tmp_path, "train")
    assert [im.file_name for im in ds.images] == ["train2017/a.png", "train2017/b.png"]
    assert all(im.extra == {"layout": LAYOUT, "split": "train"} for im in ds.images)
    fr2, r = ds.instances
    expected = np.zeros((12, 10), dtype=bool)
    expected[0:3, 0:2] = True  # lobe 1: cols 0-1, rows 0-2
    expected[8:10, 7:10] = True  # lobe 2: cols 7-9, rows 8-9
    assert np.array_equal(fr2.mask, expected)
    assert fr2.host == (4.0, 5.0) and r.host is None
    assert ds.image_labels().tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]
    png = resolve_image_path(ann, ds.images[0])
    radio, ir = read_radiogalaxynet_png(png)
    assert radio.shape == (12, 10)


def test_layout_variants_and_missing_pieces(tmp_path):
    make_layout(tmp_path, split="val", folder_suffix="")  # images in val/, not val2017/
    ds = read_radiogalaxynet(tmp_path, "val")
    assert ds.images[0].file_name == "val/a.png"
    with pytest.raises(CocoFormatError, match="no annotation file for split 'test'"):
        read_radiogalaxynet(tmp_path, "test")
    (tmp_path / "val" / "b.png").unlink()
    with pytest.raises(CocoFormatError, match=r"1 image\(s\) .* missing"):
        read_radiogalaxynet(tmp_path, "val")
    write_radiogalaxynet_png(tmp_path / "val" / "b.png", np.zeros((5, 5)))
    with pytest.raises(CocoFormatError, match="5x5 on disk, 12x10 in the JSON"):
        read_radiogalaxynet(tmp_path, "val")
    assert len(read_radiogalaxynet(tmp_path, "val", check_images=False).images) == 2
