"""segment / segment_batch with real networks: a tiny random ResNet-18 (mechanics, errors)
and a hand-designed network whose outputs are known (what the post-processing must make
of them: disjoint lobes as one instance, hosts, scores)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from astropy.io import fits
from astropy.wcs import WCS

from napari_radiogal.classes import RADIOGALAXYNET
from napari_radiogal.errors import (
    ConfigError,
    InputImageError,
    InputImageWarning,
    RadiogalError,
    WeightsError,
)
from napari_radiogal.inference import (
    STAGES,
    ImageInput,
    InferenceCancelled,
    InferenceConfig,
    LoadedModel,
    load_model,
    segment,
    segment_batch,
)
from napari_radiogal.io.geometry import EMU_PILOT_GEOMETRY
from napari_radiogal.models import ModelConfig, WeightsCard

FAST = InferenceConfig(device="cpu", scales=(1.0, 0.5))


# ---- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights, device="cpu")


def _sky(shape=(64, 64), seed=0, sources=((32, 20, 4e-3), (32, 44, 3e-3))):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    radio = rng.normal(0, 30e-6, shape)
    for cy, cx, peak in sources:
        radio += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2))
    ir = rng.normal(100, 1, shape)
    ir += 40 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (2 * 1.5**2))
    return radio.astype(np.float32), ir.astype(np.float32)


def _wcs(shape, scale_arcsec=2.0, proj="SIN", crval=(320.0, -55.0)):
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{proj}", f"DEC--{proj}"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return w


def _same(a, b):
    assert len(a.instances) == len(b.instances)
    for x, y in zip(a.instances, b.instances, strict=True):
        assert x.rle == y.rle and x.category_id == y.category_id
        assert x.score == pytest.approx(y.score, rel=1e-5, abs=1e-7)
        assert (x.host is None) == (y.host is None)
        if x.host is not None:
            assert x.host == pytest.approx(y.host, abs=1e-4)


# ---- mechanics with the random model -------------------------------------------------------
def test_segment_arrays(model):
    radio, ir = _sky()
    pred = segment(radio, ir, model=model, config=FAST)
    assert pred.image.height == 64 and pred.class_probabilities.shape == (4,)
    assert ((pred.class_probabilities > 0) & (pred.class_probabilities < 1)).all()
    assert pred.maps["cams"].shape == (4, 16, 16) and pred.maps["boundary"].shape == (16, 16)
    assert len(pred.instances) >= 1
    scores = [a.score for a in pred.instances]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    for a in pred.instances:
        assert a.mask.shape == (64, 64) and a.area >= FAST.min_instance_pixels
        assert a.extra["host_from"] in ("ir", None)
        assert 0 < a.extra["class_probability"] < 1
        if a.host is not None:  # the default rule: in the hull of the mask or near its core
            assert 0 <= a.host[0] <= 63 and 0 <= a.host[1] <= 63
    paper = segment(radio, ir, model=model, config=FAST.replace(host_region="mask"))
    hosts = [a for a in paper.instances if a.host is not None]
    assert hosts, "the paper's rule should find a host in this sky"
    for a in hosts:  # the paper's rule: the host lies inside the mask
        assert a.mask[round(a.host[1]), round(a.host[0])]
    # masks never leave the radio islands (mask_support='whole_islands', the default)
    from napari_radiogal.preprocess import preprocess

    islands = preprocess(radio, ir, model.card.preprocess).radio_islands > 0
    assert all(not (a.mask & ~islands).any() for a in pred.instances)
    free = segment(radio, ir, model=model, config=FAST.replace(mask_support="walk"))
    assert sum(a.area for a in free.instances) >= sum(a.area for a in pred.instances)
    assert set(pred.timings) == set(STAGES)
    prov = pred.provenance
    assert prov["model"]["name"] == "tiny-random" and prov["model"]["sha256"] == model.sha256
    assert prov["parameters"]["inference"]["scales"] == [1.0, 0.5]
    assert prov["software"]["name"] == "napari-radiogal"


def test_segment_is_deterministic(model):
    radio, ir = _sky(seed=4)
    _same(
        segment(radio, ir, model=model, config=FAST), segment(radio, ir, model=model, config=FAST)
    )


def test_segment_batch_matches_segment_and_reports_progress(model):
    images = [_sky((64, 64), 1), _sky((64, 64), 2), _sky((80, 72), 3)]
    config = FAST.replace(batch_size=2)
    calls = []
    preds = list(
        segment_batch(
            images, model=model, config=config, progress=lambda d, t: calls.append((d, t))
        )
    )
    assert [p.image.id for p in preds] == [1, 2, 3]
    assert preds[2].image.height == 80 and preds[2].image.width == 72
    for p, (radio, ir) in zip(preds, images, strict=True):
        single = segment(radio, ir, model=model, config=config, image_id=p.image.id)
        _same(p, single)
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (3 * len(STAGES), 3 * len(STAGES))


def test_a_timer_passed_in_totals_every_stage_of_every_batch(model):
    from napari_radiogal.inference import StageTimer

    images = [_sky((64, 64), 1), _sky((64, 64), 2), _sky((64, 64), 3)]
    timer = StageTimer()
    preds = list(segment_batch(images, model=model, config=FAST.replace(batch_size=2), timer=timer))
    assert set(timer.wall_ms) == set(timer.cpu_ms) == set(STAGES)
    assert all(v > 0 for v in timer.cpu_ms.values())
    # batches of 2 and 1 images: each prediction carries its batch's share
    for s in STAGES:
        per_batch = 2 * preds[0].timings[s] + preds[2].timings[s]
        assert preds[0].timings[s] == preds[1].timings[s]
        assert timer.wall_ms[s] == pytest.approx(per_batch)


def test_network_step_replaces_the_network_pass(model):
    from napari_radiogal.inference import network_outputs

    radio, ir = _sky()
    calls = []

    def recorded(lm, channels, config):
        calls.append([c.shape for c in channels])
        return network_outputs(lm, channels, config)

    _same(
        segment(radio, ir, model=model, config=FAST, network_step=recorded),
        segment(radio, ir, model=model, config=FAST),
    )
    assert calls == [[(2, 64, 64)]]

    def no_activation(lm, channels, config):
        out = network_outputs(lm, channels, config)
        return dict(out, cams=np.zeros_like(out["cams"]))

    quiet = segment(radio, ir, model=model, config=FAST, network_step=no_activation)
    assert quiet.instances == [] and not quiet.maps["cams"].any()


def test_cancel_stops_between_stages(model):
    radio, ir = _sky()
    stages = []

    def cancel():
        return len(stages) >= 2

    with pytest.raises(InferenceCancelled) as info:
        segment(
            radio,
            ir,
            model=model,
            config=FAST,
            progress=lambda d, t: stages.append(d),
            cancel=cancel,
        )
    assert isinstance(info.value, RadiogalError) and len(stages) == 2
    from napari_radiogal import errors

    assert InferenceCancelled is errors.InferenceCancelled  # one class, re-exported


def test_oracle_classes_take_the_given_classes(model):
    radio, ir = _sky()
    pred = segment(radio, ir, model=model, config=FAST.replace(oracle_classes=True), class_ids=[3])
    assert pred.instances and {a.category_id for a in pred.instances} == {3}
    with pytest.raises(ConfigError, match="class ids"):
        segment(radio, ir, model=model, config=FAST.replace(oracle_classes=True))


# ---- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_empty_radio_gives_an_empty_prediction_with_a_warning(model, fill):
    radio = np.full((64, 64), fill, np.float32)
    with pytest.warns(InputImageWarning, match="empty prediction"):
        pred = segment(radio, model=model, config=FAST)
    assert pred.instances == [] and np.isnan(pred.class_probabilities).all()
    assert "empty_reason" in pred.image.extra
    assert pred.to_table() is not None and len(pred.to_table()) == 0


def test_empty_image_in_a_batch_does_not_disturb_the_others(model):
    radio, ir = _sky()
    with pytest.warns(InputImageWarning):
        preds = list(
            segment_batch([(radio, ir), np.zeros((64, 64)), (radio, ir)], model=model, config=FAST)
        )
    assert preds[1].instances == []
    _same(preds[0], preds[2])


def test_too_small_image_says_the_minimum(model):
    with pytest.raises(InputImageError, match="at least 32 x 32"):
        segment(np.ones((20, 40), np.float32), model=model, config=FAST)


def test_ir_array_of_another_shape_is_refused(model):
    radio, _ = _sky()
    with pytest.raises(InputImageError, match="reproject"):
        segment(radio, np.zeros((32, 32)), model=model, config=FAST)


def test_ir_on_another_grid_is_reprojected_and_hosts_get_sky_positions(model):
    from napari_radiogal.io.fits import infrared_image_from_array, radio_image_from_array

    radio_arr, _ = _sky()
    rwcs = _wcs((64, 64))
    radio = radio_image_from_array(radio_arr, rwcs, beam=(13 / 3600, 11 / 3600, 30.0))
    # IR at 1.375"/px covering the whole radio field, host at the radio centre
    ir_shape = (110, 110)
    iwcs = _wcs(ir_shape, 1.375, "TAN")
    yy, xx = np.mgrid[: ir_shape[0], : ir_shape[1]]
    hx, hy = iwcs.world_to_pixel_values(*rwcs.pixel_to_world_values(32, 32))
    ir_arr = 100 + 50 * np.exp(-((yy - hy) ** 2 + (xx - hx) ** 2) / (2 * 2.0**2))
    ir = infrared_image_from_array(ir_arr + np.random.default_rng(0).normal(0, 1, ir_shape), iwcs)
    pred = segment(radio, ir, model=model, config=FAST)
    assert pred.image.radio_wcs and pred.image.beam == pytest.approx((13 / 3600, 11 / 3600, 30))
    hosted = [a for a in pred.instances if a.host is not None]
    assert hosted
    for a in hosted:
        assert isinstance(a.host_ra, float) and isinstance(a.host_dec, float)
        ra, dec = (float(v) for v in rwcs.pixel_to_world_values(*a.host))
        assert (a.host_ra, a.host_dec) == pytest.approx((ra, dec))
    table = pred.to_table()
    assert np.isfinite(table["flux"]).all() and np.isfinite(table["ra"]).all()


def test_ir_that_does_not_overlap_falls_back_to_radio_alone(model):
    from napari_radiogal.io.fits import infrared_image_from_array, radio_image_from_array

    radio_arr, ir_arr = _sky()
    # a 13" x 11" beam on 2" pixels: the model's own sampling, so nothing is resampled
    radio = radio_image_from_array(radio_arr, _wcs((64, 64)), beam=(13 / 3600, 11 / 3600, 0.0))
    far = infrared_image_from_array(ir_arr, _wcs((64, 64), crval=(100.0, 20.0)))
    with pytest.warns(InputImageWarning, match="radio alone"):
        pred = segment(radio, far, model=model, config=FAST)
    assert pred.instances
    assert all(a.extra["host_from"] in ("radio core", "displacement") for a in pred.instances)
    assert "ir" not in {f["role"] for f in pred.provenance["input_files"]}


def test_radio_only_hosts_come_from_the_displacement_field_when_asked(model):
    radio, _ = _sky()
    pred = segment(radio, model=model, config=FAST.replace(radio_host="displacement"))
    assert pred.instances
    for a in pred.instances:
        assert a.extra["host_from"] == "displacement"
        assert a.host == pytest.approx(tuple(a.extra["centre"]))
        assert 0 <= a.host[0] <= 63 and 0 <= a.host[1] <= 63


def test_radio_only_hosts_are_radio_cores_by_default(model):
    """Two sources 24 px apart: a mask holding both has its host between them (no core
    peak there), a mask holding one has it on that source's peak."""
    radio, _ = _sky()
    pred = segment(radio, model=model, config=FAST)
    cores = [a for a in pred.instances if a.extra["host_from"] == "radio core"]
    assert cores
    allowed = [(20.0, 32.0), (44.0, 32.0), (32.0, 32.0)]
    for a in cores:
        assert min(np.hypot(a.host[0] - x, a.host[1] - y) for x, y in allowed) < 1.5


# ---- weights -------------------------------------------------------------------------------
def test_load_model_caches_and_verifies(tiny_weights, tmp_path):
    assert load_model(tiny_weights, device="cpu") is load_model(tiny_weights, device="cpu")
    # a corrupted tensor file: sha256 differs from the card
    bad = tmp_path / "bad"
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"bad{suffix}").write_bytes(tiny_weights.with_suffix(suffix).read_bytes())
    data = bytearray((tmp_path / "bad.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model(bad, device="cpu")


def test_card_that_does_not_match_the_tensors(tiny_weights, tmp_path):
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"m{suffix}").write_bytes(tiny_weights.with_suffix(suffix).read_bytes())
    card = json.loads((tmp_path / "m.json").read_text())
    card["architecture"]["backbone"] = "resnet34"
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="architecture"):
        load_model(tmp_path / "m", device="cpu")


def test_missing_default_model_says_how_to_get_one(monkeypatch, tmp_path):
    import napari_radiogal.models.weights as mw

    monkeypatch.setattr(mw, "default_weights_path", lambda: tmp_path / "default.safetensors")
    with pytest.raises(WeightsError, match="radiogal train"):
        segment(np.ones((64, 64), np.float32), config=FAST)
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nothing.safetensors", device="cpu")
    with pytest.raises(TypeError, match="LoadedModel"):
        segment(np.ones((64, 64), np.float32), model=object(), config=FAST)


# ---- files ---------------------------------------------------------------------------------
def test_fits_inputs_are_checksummed_in_the_provenance(model, tmp_path):
    from napari_radiogal.io.coco import file_sha256
    from napari_radiogal.io.fits import read_infrared, read_radio

    radio_arr, ir_arr = _sky()
    header = _wcs((64, 64)).to_header()
    header.update(BUNIT="Jy/beam", BMAJ=13 / 3600, BMIN=11 / 3600, BPA=0.0)
    fits.PrimaryHDU(radio_arr, header).writeto(tmp_path / "r.fits")
    fits.PrimaryHDU(ir_arr, _wcs((64, 64)).to_header()).writeto(tmp_path / "i.fits")
    pred = segment(
        read_radio(tmp_path / "r.fits"),
        read_infrared(tmp_path / "i.fits"),
        model=model,
        config=FAST,
    )
    files = {f["role"]: f for f in pred.provenance["input_files"]}
    assert files["radio"]["sha256"] == file_sha256(tmp_path / "r.fits")
    assert files["ir"]["sha256"] == file_sha256(tmp_path / "i.fits")
    assert pred.image.file_name == "r.fits"
    paths = pred.write(tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "r.json",
        "r.ecsv",
        "r.cat.fits",
        "r.vot",
        "r.reg",
        "r.crtf",
    }


# ---- the post-processing, with a network whose outputs are known ---------------------------
class DesignedNet(torch.nn.Module):
    """Outputs chosen by hand on 2-channel (radio, IR) inputs.

    * class 0 (FR-II) has logit +4, the others -4; its CAM is the radio channel averaged at
      stride 16 and blurred (so it also covers the gap between lobes);
    * boundary = 1 outside radio emission, 0 inside (the walk stays on the source);
    * displacement: every stride-4 cell points at the nearest of ``centres`` (pixels).
    """

    def __init__(self, centres):
        super().__init__()
        self.centres = torch.tensor(centres, dtype=torch.float32)

    def cams(self, x):
        cam = F.avg_pool2d(x[:, :1], 16, ceil_mode=True)
        cam = F.avg_pool2d(cam, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([cam, torch.zeros_like(cam).repeat(1, 3, 1, 1)], dim=1)

    def infer(self, x):
        b, _, h, w = x.shape
        h4, w4 = -(-h // 4), -(-w // 4)
        radio = F.max_pool2d(x[:, :1], 4, ceil_mode=True)
        boundary = (radio <= 0).float()
        gy, gx = torch.meshgrid(torch.arange(h4), torch.arange(w4), indexing="ij")
        targets = (self.centres - 1.5) / 4  # pixel -> grid coordinates
        dist = (gy[None] - targets[:, 0, None, None]) ** 2 + (
            gx[None] - targets[:, 1, None, None]
        ) ** 2
        nearest = targets[dist.argmin(dim=0)]  # (h4, w4, 2)
        disp = torch.stack([nearest[..., 0] - gy, nearest[..., 1] - gx])
        logits = torch.tensor([[4.0, -4.0, -4.0, -4.0]]).repeat(b, 1)
        return {
            "logits": logits,
            "cams": self.cams(x),
            "boundary": boundary,
            "displacement": disp[None].repeat(b, 1, 1, 1),
        }


def _double_and_compact():
    """128 x 128: an FR-II (two detached lobes, IR host between) + a compact source."""
    shape = (128, 128)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    rng = np.random.default_rng(0)
    radio = rng.normal(0, 30e-6, shape)
    for cy, cx, peak in [(66, 30, 5e-3), (62, 98, 4e-3), (18, 104, 2e-3)]:
        radio += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0**2))
    ir = 100 + rng.normal(0, 1, shape)
    ir += 60 * np.exp(-((yy - 64.3) ** 2 + (xx - 64.6) ** 2) / (2 * 1.5**2))
    centres = [(64.0, 64.0), (18.0, 104.0)]
    return radio.astype(np.float32), ir.astype(np.float32), centres


def _designed_model(centres):
    card = WeightsCard(
        name="designed",
        architecture=ModelConfig("resnet18", 2, 4),
        classes=RADIOGALAXYNET,
        geometry=EMU_PILOT_GEOMETRY,
        sha256="0" * 64,
    )
    return LoadedModel(network=DesignedNet(centres).eval(), card=card, device=torch.device("cpu"))


def test_detached_lobes_are_one_instance_with_the_host_between_them():
    radio, ir, centres = _double_and_compact()
    lm = _designed_model(centres)
    pred = segment(radio, ir, model=lm, config=FAST.replace(host_region="hull"))
    assert len(pred.instances) == 2
    double = max(pred.instances, key=lambda a: a.area)
    compact = min(pred.instances, key=lambda a: a.area)
    assert double.category_id == RADIOGALAXYNET.id_of_name("FR-II")
    assert double.extra["n_components"] == 2
    assert double.mask[66, 30] and double.mask[62, 98] and not double.mask[64, 64]
    assert compact.mask[18, 104] and not compact.mask[66, 30]
    assert double.host == pytest.approx((64.6, 64.3), abs=0.5)
    assert double.extra["host_from"] == "ir"
    # scores: class probability x propagated CAM peak, never renormalised to 1
    p = 1 / (1 + np.exp(-4.0))
    assert all(0 < a.score <= p for a in pred.instances)
    assert pred.instances[0].score > pred.instances[1].score
    # the paper's rule (inside the mask): the gap between the lobes holds no IR -> no host
    strict = segment(radio, ir, model=lm, config=FAST.replace(host_region="mask"))
    assert max(strict.instances, key=lambda a: a.area).host is None


def test_core_rule_picks_the_galaxy_near_the_core_over_a_brighter_one_on_a_lobe():
    """A brighter unrelated IR galaxy sits on the left lobe: inside the mask (the paper) it
    wins; with host_region='core' the galaxy between the lobes, at the radio midpoint, does."""
    radio, ir, centres = _double_and_compact()
    yy, xx = np.mgrid[: ir.shape[0], : ir.shape[1]]
    ir = ir + 90 * np.exp(-((yy - 67.0) ** 2 + (xx - 33.0) ** 2) / (2 * 1.5**2))
    lm = _designed_model(centres)
    hosts = {}
    for rule in ("mask", "core"):
        pred = segment(
            radio, ir.astype(np.float32), model=lm, config=FAST.replace(host_region=rule)
        )
        hosts[rule] = max(pred.instances, key=lambda a: a.area).host
    assert hosts["mask"] == pytest.approx((33.0, 67.0), abs=1.0)
    assert hosts["core"] == pytest.approx((64.6, 64.3), abs=0.5)


def test_host_search_rules_on_arrays():
    from napari_radiogal.inference.hosts import host_search, host_search_region

    mask = np.zeros((30, 60), bool)
    mask[10:20, 0:10] = mask[10:20, 50:60] = True
    weight = np.zeros(mask.shape)
    weight[15, 5] = 2.0  # on a lobe
    weight[14, 30] = 1.0  # between the lobes, at the core
    weight[2, 30] = 5.0  # outside the hull and far from the core
    assert host_search(weight, mask, "mask", beam_px=3, subpixel=False) == (5.0, 15.0)
    assert host_search(weight, mask, "hull", beam_px=3, subpixel=False) == (5.0, 15.0)
    core = host_search(weight, mask, "core", core=(30.0, 15.0), beam_px=3, subpixel=False)
    assert core == (30.0, 14.0)
    # the disc around the core reaches a host just off the hull, but not the far galaxy
    region = host_search_region(mask, "core", core=(30.0, 15.0), radius_px=6.0)
    assert region[9, 30] and not region[2, 30]
    with pytest.raises(ValueError, match="host search rule"):
        host_search_region(mask, "nearest")


def test_designed_radio_only_host_is_between_the_lobes():
    """An FR-II without a core: the radio-core rule gives the midpoint of the hotspots, the
    displacement field its centre; both lie where the host galaxy is."""
    radio, _, centres = _double_and_compact()
    for radio_host, host_from in (("core", "radio core"), ("displacement", "displacement")):
        config = FAST.replace(radio_host=radio_host)
        pred = segment(radio, model=_designed_model(centres), config=config)
        double = max(pred.instances, key=lambda a: a.area)
        assert double.extra["host_from"] == host_from
        assert double.host == pytest.approx((64.0, 64.0), abs=1.0)


def test_designed_scores_do_not_depend_on_the_other_images_of_a_batch():
    radio, ir, centres = _double_and_compact()
    lm = _designed_model(centres)
    alone = segment(radio, ir, model=lm, config=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = list(
            segment_batch(
                [ImageInput(radio * 10, ir), ImageInput(radio, ir)], model=lm, config=FAST
            )
        )
    _same(alone, batch[1])


def _two_class_designed_step(lm, channels, config):
    """Class 0 (probable) has its CAM over source A at x = 14 px (cell 3.5) only, class 1
    (improbable) over x = 44-60 px; a boundary wall between them stops the walk across."""
    from napari_radiogal.inference import network_outputs

    out = network_outputs(lm, channels, config)
    cams = np.zeros_like(out["cams"])
    cams[:, 0, 6:10, 2:5] = 1.0
    cams[:, 1, 6:10, 11:15] = 1.0
    boundary = np.zeros_like(out["boundary"])
    boundary[:, :, 7:9] = 1.0
    return dict(
        out,
        cams=cams,
        logits=np.array([[4.0, -2.0, -6.0, -6.0]] * len(channels), np.float32),
        boundary=boundary,
        displacement=np.zeros_like(out["displacement"]),
    )


def _segment_designed(radio, ir, model, unclaimed_islands):
    config = FAST.replace(unclaimed_islands=unclaimed_islands)
    return segment(radio, ir, model=model, config=config, network_step=_two_class_designed_step)


def test_an_island_no_instance_claims_becomes_its_own_with_unclaimed_islands(model):
    """Class 0 is the only class above threshold and its CAM lights source A only; source
    B, as bright, lies under class 1's CAM: with 'instance' it gets its own instance."""
    radio, ir = _sky(sources=((32, 14, 4e-3), (32, 50, 4e-3)))
    paper = _segment_designed(radio, ir, model, "ignore")
    assert len(paper.instances) == 1
    assert paper.instances[0].mask[32, 14] and not paper.instances[0].mask[32, 50]
    claimed = _segment_designed(radio, ir, model, "instance")
    assert len(claimed.instances) == 2
    first, second = claimed.instances  # sorted by score: the claimed one first
    assert first.mask[32, 14] and second.mask[32, 50] and not (first.mask & second.mask).any()
    names = [claimed.scheme.name_of_id(a.category_id) for a in claimed.instances]
    assert names == [RADIOGALAXYNET.names[0], RADIOGALAXYNET.names[1]]
    # class 1's probability (its CAM peaks at 1) times the factor: it ranks after
    assert second.score == pytest.approx(1e-3 / (1 + np.exp(2.0)), rel=0.05)
    assert second.score < first.score
    assert abs(second.extra["centre"][0] - 50) < 2  # its own centre of emission
    assert [a.extra["found_by"] for a in claimed.instances] == ["class map", "radio island"]


@pytest.mark.parametrize(("length_px", "kept"), [(3.0, False), (6.0, True)])
def test_resolved_unclaimed_islands_keep_extended_sources_only(model, length_px, kept):
    """Source B, which no class map claims, is a point source (a beam-sized Gaussian) or
    a source stretched along x: 'resolved' makes an instance of the extended one only."""
    radio, ir = _sky(sources=((32, 14, 4e-3),))
    yy, xx = np.mgrid[:64, :64]
    radio = radio + (
        4e-3 * np.exp(-((yy - 32) ** 2) / (2 * 3.0**2) - (xx - 50) ** 2 / (2 * length_px**2))
    ).astype(np.float32)
    pred = _segment_designed(radio, ir, model, "resolved")
    found = [a.extra["found_by"] for a in pred.instances]
    assert found == (["class map", "radio island"] if kept else ["class map"])
    if kept:
        assert pred.instances[1].mask[32, 50] and pred.instances[1].mask[32, 60]
    # 'instance' keeps the island whatever its size
    every = _segment_designed(radio, ir, model, "instance")
    assert [a.extra["found_by"] for a in every.instances] == ["class map", "radio island"]


def test_designed_radio_centroid_host_is_pulled_to_the_brighter_lobe():
    """radio_host='centroid': the brightness-weighted centroid of the mask (the 5 mJy lobe
    at x = 30 outweighs the 4 mJy one at x = 98), where the core rule gives the midpoint."""
    from napari_radiogal.inference.hosts import brightness_centroid

    radio, _, centres = _double_and_compact()
    config = FAST.replace(radio_host="centroid")
    pred = segment(radio, model=_designed_model(centres), config=config)
    double = max(pred.instances, key=lambda a: a.area)
    assert double.extra["host_from"] == "radio centroid"
    assert double.host == pytest.approx(brightness_centroid(radio, double.mask), abs=1e-9)
    assert 50.0 < double.host[0] < 62.0  # nearer the brighter lobe than the midpoint (64)
    assert double.host[1] == pytest.approx(64.0, abs=2.0)
