"""Networks, heads and weights files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_radiogal.classes import RADIOGALAXYNET, ClassScheme
from napari_radiogal.errors import ConfigError, WeightsError
from napari_radiogal.io.geometry import EMU_PILOT_GEOMETRY
from napari_radiogal.models import (
    ModelConfig,
    WeightsCard,
    build_backbone,
    build_model,
    load_weights,
    read_card,
    save_weights,
)
from napari_radiogal.models.heads import ReCamPredictor, normalise_cams
from napari_radiogal.preprocess import PreprocessConfig

THREE = ClassScheme(names=("A", "B", "C"), coco_ids=(5, 7, 9), name="three")


@pytest.fixture(scope="module")
def r18():
    torch.manual_seed(0)
    return build_model(
        ModelConfig("resnet18", in_channels=2, num_classes=4), scheme=RADIOGALAXYNET
    ).eval()


@pytest.mark.parametrize(
    "name, channels",
    [
        ("resnet18", (64, 64, 128, 256, 512)),
        ("resnet34", (64, 64, 128, 256, 512)),
        ("resnet50", (64, 256, 512, 1024, 2048)),
    ],
)
def test_backbone_output_stride_16(name, channels):
    bb = build_backbone(name, in_channels=3, output_stride=16).eval()
    assert bb.channels == channels
    with torch.no_grad():
        taps = bb(torch.zeros(1, 3, 210, 210))
    assert [t.shape[-1] for t in taps] == [53, 53, 27, 14, 14]
    assert [t.shape[1] for t in taps] == list(channels)


def test_backbone_other_strides_and_errors():
    bb = build_backbone("resnet18", in_channels=1, output_stride=32).eval()
    with torch.no_grad():
        assert bb(torch.zeros(1, 1, 64, 64)).s5.shape[-1] == 2
    with pytest.raises(ConfigError, match="unknown backbone"):
        build_backbone("vgg16", in_channels=2)
    with pytest.raises(ConfigError):
        ModelConfig("resnet18", output_stride=4)


def test_infer_shapes_and_one_pass_consistency(r18):
    x = torch.rand(2, 2, 100, 90)
    with torch.no_grad():
        out = r18.infer(x)
        assert out["logits"].shape == (2, 4)
        assert out["cams"].shape == (2, 4, 7, 6)
        assert out["boundary"].shape == (2, 1, 25, 23)
        assert out["displacement"].shape == (2, 2, 25, 23)
        assert 0 <= out["boundary"].min() and out["boundary"].max() <= 1
        torch.testing.assert_close(out["logits"], r18(x))
        torch.testing.assert_close(out["cams"], r18.cams(x))
        b, d = r18.irn(x)
        torch.testing.assert_close(out["boundary"], b)
        torch.testing.assert_close(out["displacement"], d)


def test_logits_are_mean_of_unrectified_maps(r18):
    """No bias: w . GAP(F) == GAP(w . F), the property the CAM relies on."""
    x = torch.rand(1, 2, 64, 64)
    with torch.no_grad():
        f = r18.backbone(x).s5
        maps = r18.classifier.weight_conv(f)
        torch.testing.assert_close(r18(x), maps.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)


def test_mean_displacement_is_subtracted(r18):
    x = torch.rand(1, 2, 64, 64)
    with torch.no_grad():
        _, raw = r18.irn_heads(r18.backbone(x))
        r18.mean_displacement.copy_(torch.tensor([1.5, -2.0]))
        try:
            _, d = r18.irn(x)
        finally:
            r18.mean_displacement.zero_()
    torch.testing.assert_close(d, raw - torch.tensor([1.5, -2.0]).view(1, 2, 1, 1))


def test_irn_heads_do_not_touch_backbone_gradients():
    net = build_model(ModelConfig("resnet18", 2, 3), scheme=THREE)
    b, d = net.irn(torch.rand(1, 2, 64, 64))
    (b.sum() + d.sum()).backward()
    assert all(p.grad is None for p in net.backbone.parameters())
    assert any(p.grad is not None for p in net.displacement.parameters())


def test_recam_class_features():
    feats = torch.rand(2, 8, 5, 5)
    cams = torch.rand(2, 3, 5, 5)
    f = ReCamPredictor.class_features(feats, cams)
    assert f.shape == (2, 3, 8)
    expected = (normalise_cams(cams)[0, 1][None] * feats[0]).mean(dim=(1, 2))
    torch.testing.assert_close(f[0, 1], expected)
    net = build_model(ModelConfig("resnet18", 2, 3), scheme=THREE)
    logits, recam_logits = net.recam_forward(torch.rand(2, 2, 64, 64))
    assert logits.shape == (2, 3) and recam_logits.shape == (2, 3, 3)


def test_fixed_bn_and_frozen_stem():
    net = build_model(ModelConfig("resnet18", 2, 4), scheme=RADIOGALAXYNET)
    net.set_fixed_bn(True)
    net.freeze_stem(True)
    net.train()
    bns = [m for m in net.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert not net.backbone.conv1.weight.requires_grad
    assert net.backbone.layer1[0].conv1.weight.requires_grad
    assert net.classifier.training
    groups = net.parameter_groups()
    assert all(p is not net.backbone.conv1.weight for p in groups["backbone"])


def test_pretrained_path_adapts_first_conv(tmp_path):
    from torchvision.models import resnet18

    tv = resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(tv.state_dict(), path)
    bb = build_backbone("resnet18", in_channels=2, pretrained_path=path)
    torch.testing.assert_close(bb.layer3[0].conv2.weight, tv.layer3[0].conv2.weight)
    expected = tv.conv1.weight.mean(dim=1, keepdim=True) * 1.5
    torch.testing.assert_close(bb.conv1.weight[:, :1], expected)
    with pytest.raises(WeightsError, match="does not match"):
        build_backbone("resnet50", in_channels=2, pretrained_path=path)


def _card(net, **kw):
    return WeightsCard(
        name="t",
        architecture=net.config,
        classes=net.scheme,
        preprocess=PreprocessConfig(channels=("radio", "ir")),
        training={"command": "pytest"},
        metrics={"miou": 0.5},
        **{"geometry": EMU_PILOT_GEOMETRY, **kw},
    )


def test_weights_round_trip(r18, tmp_path):
    path = save_weights(r18, _card(r18), tmp_path / "model")
    assert path.name == "model.safetensors" and (tmp_path / "model.json").is_file()
    model, card = load_weights(tmp_path / "model.json")
    assert card.classes == RADIOGALAXYNET and card.architecture == r18.config
    assert card.metrics == {"miou": 0.5} and len(card.sha256) == 64
    x = torch.rand(1, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), r18(x))
    data = json.loads((tmp_path / "model.json").read_text())
    assert data["input_channels"] == ["radio", "ir"]
    assert data["classes"]["coco_ids"] == [1, 2, 3, 4]
    assert not list(tmp_path.glob(".*tmp"))


def test_tampered_weights_raise(r18, tmp_path):
    path = save_weights(r18, _card(r18), tmp_path / "model.safetensors")
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(WeightsError, match="sha256"):
        load_weights(path)


def test_wrong_architecture_raises(r18, tmp_path):
    path = save_weights(r18, _card(r18), tmp_path / "model")
    card_path = tmp_path / "model.json"
    data = json.loads(card_path.read_text())
    data["architecture"]["backbone"] = "resnet34"
    card_path.write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="does not fit"):
        load_weights(path)
    data["architecture"]["backbone"] = "resnet18"
    data["architecture"]["num_classes"] = 3
    card_path.write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="class list"):
        read_card(path)
    card_path.unlink()
    with pytest.raises(WeightsError, match="card"):
        load_weights(path)


def test_card_checks_channels_and_classes(r18):
    with pytest.raises(WeightsError, match="input channels"):
        WeightsCard(
            name="x",
            architecture=r18.config,
            classes=r18.scheme,
            preprocess=PreprocessConfig(channels=("radio",)),
        )
    with pytest.raises(ConfigError, match="classes"):
        build_model(ModelConfig("resnet18", 2, 4), scheme=THREE)


def test_reading_a_card_loads_no_torch(r18, tmp_path):
    save_weights(r18, _card(r18), tmp_path / "m")
    code = (
        "import sys; from napari_radiogal.models import read_card; "
        f"c = read_card({str(tmp_path / 'm')!r}); assert c.architecture.backbone == "
        "'resnet18'; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bundled_model_card_records_its_benchmark():
    """The shipped weights say what they are and how good they are (benchmarks/accuracy.py)."""
    from napari_radiogal.inference import load_model
    from napari_radiogal.io.provenance import file_sha256
    from napari_radiogal.models.weights import default_weights_path, read_card

    path = default_weights_path()
    if not path.is_file():
        pytest.skip("no bundled model in this checkout")
    card = read_card(path)
    assert card.sha256 == file_sha256(path)
    assert card.classes.names == ("FR-II", "FR-I", "FR-X", "R")
    bench = card.metrics["benchmark"]
    # recorded for the settings the model runs with (library defaults + the card's
    # recommendation), and better than the non-learned baseline
    assert bench["inference"] == load_model(path).config().to_dict()
    assert bench["predicted_mask_ap50"] > bench["baseline_predicted_mask_ap50"]
    assert 0 <= bench["accuracy"] <= 100


# ---- multi-scale, mirrored CAMs (models/cams.py) ------------------------------------------
class _RecordingNet(torch.nn.Module):
    """CAM = the first input channel pooled to stride 16, so the sums can be checked by hand."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def cams(self, x):
        self.seen.append(x.clone())
        return torch.nn.functional.avg_pool2d(x[:, :1], 16)

    def infer(self, x):
        return {"cams": self.cams(x), "marker": torch.arange(len(x))}


def test_multiscale_flip_cams_sums_scales_and_mirrors_on_the_given_grid():
    from napari_radiogal.models.cams import multiscale_flip_cams

    torch.manual_seed(0)
    images = torch.rand((3, 2, 32, 48))
    net = _RecordingNet()

    def resample(cams, size):  # keep the raw stride-16 maps of the scale-1 input
        assert size in ((32, 48), (64, 96))
        return cams[..., :2, :3] if size == (32, 48) else cams[..., ::2, ::2]

    full = []
    total = multiscale_flip_cams(
        net,
        images,
        resample,
        (1.0, 2.0),
        max_batch=2,
        on_full_scale=lambda out, n: full.append((out["marker"].tolist(), n)),
    )
    # scale 1: batches of 2 and 1 image, each followed by its mirrors; scale 2: 2 / 4 = 1 a pass
    assert [len(x) for x in net.seen] == [4, 2, 2, 2, 2]
    assert torch.equal(net.seen[0][2:], torch.flip(images[:2], dims=(3,)))
    assert full == [([0, 1, 2, 3], 2), ([0, 1], 1)]

    def by_hand(x):  # the net's CAM of x plus the flipped-back CAM of its mirror
        pool = torch.nn.functional.avg_pool2d
        return pool(x[:, :1], 16) + torch.flip(pool(x[:, :1].flip(3), 16), dims=(3,))

    doubled = torch.nn.functional.interpolate(
        images, size=(64, 96), mode="bilinear", align_corners=False
    )
    expected = by_hand(images) + by_hand(doubled)[..., ::2, ::2]
    assert total.shape == (3, 1, 2, 3) and total.dtype == torch.float32
    assert torch.allclose(total, expected, atol=1e-6)
    no_flip = multiscale_flip_cams(_RecordingNet(), images, resample, (1.0,), flip=False)
    assert torch.allclose(no_flip, torch.nn.functional.avg_pool2d(images[:, :1], 16))


def test_training_and_inference_cams_agree(tiny_weights):
    """Both call sites of multiscale_flip_cams see the same maps, on their own grids.

    Between the centres of pixels 4i+1 and 4i+2 no stride-16 sample of the bilinear
    interpolation lies (at scales 0.5, 1 and 2), so the mean of those 2 x 2 pixels of the
    pseudo-label CAMs is the inference CAM of stride-4 cell i (up to their normalisation).
    """
    from napari_radiogal.inference import InferenceConfig, load_model, network_outputs
    from napari_radiogal.training.pseudo_labels import multiscale_cams

    lm = load_model(tiny_weights, device="cpu")
    torch.manual_seed(1)
    image = torch.rand((2, 64, 96))
    for flip in (True, False):
        scales = (1.0, 0.5, 2.0)
        config = InferenceConfig(device="cpu", scales=scales, flip=flip)
        on_cells = network_outputs(lm, [image.numpy()], config)["cams"][0]  # (K, 16, 24)
        pixels = multiscale_cams(lm.network, image, scales, flip).numpy()  # (K, 64, 96)
        k = pixels.shape[0]
        centres = pixels.reshape(k, 16, 4, 24, 4)[:, :, 1:3, :, 1:3].mean(axis=(2, 4))
        peak_cells = on_cells.reshape(k, -1).max(axis=1)[:, None, None]
        peak_centres = centres.reshape(k, -1).max(axis=1)[:, None, None]
        assert on_cells.shape == centres.shape == (4, 16, 24)
        assert (peak_cells > 0).all()
        np.testing.assert_allclose(on_cells / peak_cells, centres / peak_centres, atol=1e-5)


def test_card_records_geometry_and_old_cards_say_what_is_assumed(tmp_path):
    from napari_radiogal.errors import WeightsWarning
    from napari_radiogal.io.geometry import ModelGeometry

    net = build_model(ModelConfig("resnet18", in_channels=2, num_classes=4), scheme=RADIOGALAXYNET)
    wide = ModelGeometry(2.0, (4.5, 4.0), 210, pixels_per_beam_range=(2.5, 8.0))
    path = save_weights(net, _card(net, geometry=wide), tmp_path / "wide")
    assert read_card(path).geometry == wide
    assert read_card(path).model_geometry == wide
    old = save_weights(net, _card(net, geometry=None), tmp_path / "old")
    card = read_card(old)
    assert card.geometry is None and "geometry" not in card.to_dict()
    with pytest.warns(WeightsWarning, match=r"no training geometry.*2\"/px"):
        assert card.model_geometry == EMU_PILOT_GEOMETRY


def test_bundled_card_records_the_emu_geometry_and_the_wide_range():
    from napari_radiogal.models.weights import default_weights_path

    geometry = read_card(default_weights_path()).geometry
    assert geometry.pixel_scale_arcsec == pytest.approx(EMU_PILOT_GEOMETRY.pixel_scale_arcsec)
    assert geometry.cutout_size == EMU_PILOT_GEOMETRY.cutout_size
    assert geometry.pixels_per_beam == pytest.approx(EMU_PILOT_GEOMETRY.pixels_per_beam)
    low, high = geometry.pixels_per_beam_range  # the narrow sky's 6 inside the wide 2.5-8
    assert 2.5 <= low < geometry.pixels_per_beam < high <= 8.0


def test_bundled_models_are_found_by_file_stem_and_card_name(tmp_path):
    from napari_radiogal.errors import WeightsError
    from napari_radiogal.models import default_weights_path, find_weights, read_card
    from napari_radiogal.models.weights import bundled_models

    default = default_weights_path()
    if not default.is_file():
        pytest.skip("no bundled model in this installation")
    names = bundled_models()
    assert names["default"] == default
    assert find_weights(read_card(default).name) == default
    assert find_weights(default.with_suffix(".json")) == default  # a path still wins
    with pytest.raises(WeightsError, match="bundled models") as info:
        find_weights(tmp_path / "nothing")
    assert "'default'" in str(info.value)


def test_half_precision_weights_load_as_float32_with_the_same_outputs(r18, tmp_path):
    full = save_weights(r18, _card(r18), tmp_path / "full")
    half = save_weights(r18, _card(r18), tmp_path / "half", half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded, _ = load_weights(half)
    state = loaded.state_dict()
    assert all(v.dtype == r18.state_dict()[k].dtype for k, v in state.items())
    x = torch.rand(1, 2, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), r18(x), rtol=1e-2, atol=1e-2)
        assert not torch.equal(loaded(x), r18(x))  # it really went through float16
