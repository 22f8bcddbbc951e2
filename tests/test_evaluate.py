"""Evaluation against hand-computed numbers (pycocotools COCOeval, 101-point AP).

COCO's AP: precision is made monotone (envelope from the right) and sampled at the 101
recall thresholds 0, 0.01, ..., 1.00; AP is the mean of those 101 samples (0 where a recall
is never reached). Percentages throughout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from napari_radiogal.annotations import CocoDataset, ImageRecord, Instance
from napari_radiogal.classes import RADIOGALAXYNET, ClassScheme
from napari_radiogal.cli import main
from napari_radiogal.errors import CocoFormatError, EvaluationError, EvaluationWarning
from napari_radiogal.evaluate import OKS_TOLERANCE, evaluate
from napari_radiogal.evaluate.matching import greedy_match
from napari_radiogal.io.coco import dataset_to_dict, read_coco, write_coco

FR2, FR1, FRX, R = 1, 2, 3, 4  # RadioGalaxyNET category ids
H = W = 48


def box(r0, r1, c0, c1, shape=(H, W)):
    """Boolean mask, rows r0..r1-1, cols c0..c1-1."""
    m = np.zeros(shape, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def disk(r, c, radius, shape=(H, W)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - r) ** 2 + (xx - c) ** 2 <= radius**2


def two_lobes():
    """An FR-II: two 5x5 lobes (25 px each) and a 3x3 core (9 px), all disjoint: 59 px."""
    return box(5, 10, 5, 10) | box(5, 10, 38, 43) | box(6, 9, 22, 25)


def wcs_header(arcsec_per_pixel: float) -> str:
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.cdelt = [-arcsec_per_pixel / 3600, arcsec_per_pixel / 3600]
    w.wcs.crval = [150.0, -30.0]
    w.wcs.crpix = [W / 2, H / 2]
    return w.to_header_string()


def images(n, **kwargs):
    return [ImageRecord(i, f"radio/img{i}.fits", H, W, **kwargs) for i in range(1, n + 1)]


def inst(mask, image_id, cat, host=None, score=None):
    return Instance.from_mask(mask, image_id=image_id, category_id=cat, host=host, score=score)


def simulator_like() -> CocoDataset:
    """Four classes, a two-lobe FR-II, an image with two sources, WCS, beams, hosts."""
    hdr = wcs_header(2.0)
    ims = images(4, radio_wcs=hdr, beam=(13 / 3600, 11 / 3600, 0.0), noise_sigma=3e-5)
    gts = [
        inst(two_lobes(), 1, FR2, host=(23.0, 7.0)),
        inst(disk(20, 20, 6), 2, FR1, host=(20.0, 20.0)),
        inst(box(30, 36, 5, 30), 2, R, host=(10.0, 33.0)),
        inst(disk(24, 24, 9) & ~disk(24, 24, 3), 3, FRX, host=(24.0, 16.0)),  # ring (hole)
        inst(box(10, 20, 10, 40), 4, R, host=None),
    ]
    for a in gts:
        a.host_ra, a.host_dec = 150.0, -30.0
    return CocoDataset(images=ims, instances=gts, info={"description": "test"})


def as_prediction(gt: CocoDataset, score=0.9) -> CocoDataset:
    preds = [
        Instance(
            image_id=a.image_id,
            category_id=a.category_id,
            rle=dict(a.rle),
            host=a.host,
            score=score,
        )
        for a in gt.instances
    ]
    return CocoDataset(images=gt.images, instances=preds, scheme=gt.scheme)


def ap_cells(result):
    return {
        name: [getattr(m, k) for k in ("mask_ap50", "host_ap50", "box_ap50", "mask_ap")]
        for name, m in [(c.name, c) for c in result.classes] + [("mean", result.mean)]
    }


# ------------------------------------------------------------------ perfect prediction ----


def test_perfect_prediction_is_100_everywhere(capsys):
    gt = simulator_like()
    for protocol in ("predicted", "oracle"):
        r = evaluate(gt, as_prediction(gt), protocol=protocol)
        for name, cells in ap_cells(r).items():
            for v in cells:
                assert v == pytest.approx(100.0), (protocol, name, cells)
        for c in r.classes:
            assert (c.tp_rate, c.fp_rate, c.fn_rate) == (100.0, 0.0, 0.0)
            assert c.host_median_arcsec == 0.0
        assert r.accuracy == 100.0
        assert np.array_equal(np.diag(r.confusion)[:4], [1, 1, 1, 2])  # FR-I FR-II FR-X R
        assert r.confusion[:, 4].sum() == 0 and r.confusion[4].sum() == 0
    # pycocotools' "Loading and preparing results... DONE" must not reach stdout
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------- hand-computed AP ----------


def test_one_missed_source_of_five():
    # 5 FR-I sources, 4 found exactly (scores 0.9 .. 0.6), none spurious.
    # Precision is 1 up to recall 4/5 = 0.80 and recall never exceeds 0.80, so of the 101
    # recall thresholds 0.00 .. 0.80 (81 of them) have precision 1 and 0.81 .. 1.00 have 0:
    # AP = 81 / 101 = 80.19801980...%.
    ims = images(5)
    gts = [inst(disk(24, 24, 5 + i), i + 1, FR1) for i in range(5)]
    preds = [inst(disk(24, 24, 5 + i), i + 1, FR1, score=0.9 - 0.1 * i) for i in range(4)]
    r = evaluate(CocoDataset(ims, gts), CocoDataset(ims, preds))
    assert r["FR-I"].mask_ap50 == pytest.approx(100 * 81 / 101, abs=1e-9)
    assert r["FR-I"].mask_ap == pytest.approx(100 * 81 / 101, abs=1e-9)  # perfect masks
    assert r["FR-I"].box_ap50 == pytest.approx(100 * 81 / 101, abs=1e-9)
    assert (r["FR-I"].tp, r["FR-I"].fp, r["FR-I"].fn) == (4, 0, 1)
    assert (r["FR-I"].tp_rate, r["FR-I"].fn_rate) == (80.0, 20.0)
    assert math.isnan(r["FR-II"].mask_ap50)  # no FR-II in the truth: n/a, not 0
    assert r.mean.mask_ap50 == pytest.approx(100 * 81 / 101, abs=1e-9)  # nanmean
    assert r.confusion[0, 4] == 1  # one FR-I missed


def test_false_positive_ranked_first_halves_precision():
    # FR-II truth on image 2 only. Predictions: a wrong FR-II on image 1 (score 0.9, FP)
    # ranked before the right one on image 2 (score 0.8, TP). Precision after each: 0/1,
    # 1/2 at recall 1. The envelope is 0.5 at every recall threshold: AP = 50.0.
    ims = images(2)
    gts = [inst(box(5, 15, 5, 15), 1, FR1), inst(box(20, 30, 20, 30), 2, FR2)]
    preds = [
        inst(box(5, 15, 5, 15), 1, FR2, score=0.9),
        inst(box(20, 30, 20, 30), 2, FR2, score=0.8),
    ]
    r = evaluate(CocoDataset(ims, gts), CocoDataset(ims, preds))
    assert r["FR-II"].mask_ap50 == pytest.approx(50.0)
    assert r["FR-I"].mask_ap50 == 0.0  # its only source was called FR-II
    assert r.mean.mask_ap50 == pytest.approx(25.0)
    # the oracle protocol gives each prediction its image's true class: both are right
    o = evaluate(CocoDataset(ims, gts), CocoDataset(ims, preds), protocol="oracle")
    assert (o["FR-I"].mask_ap50, o["FR-II"].mask_ap50) == (100.0, 100.0)
    # classification always uses the model's classes: FR-I -> FR-II once, FR-II right once
    for res in (r, o):
        assert res.confusion[0].tolist() == [0, 1, 0, 0, 0]  # FR-I row
        assert res.confusion[1].tolist() == [0, 1, 0, 0, 0]  # FR-II row
        assert res.accuracy == 50.0
    assert "ORACLE" in o.table() and "ORACLE" not in r.table()


def test_fr2_predicted_as_two_lobes_is_one_fn_and_two_fps():
    # Truth: one FR-II of 59 px (two 25 px lobes + 9 px core). Each lobe predicted alone has
    # IoU 25/59 = 0.42 < 0.5: two FPs, and the FR-II is one FN. AP50 = 0.
    ims = images(1)
    lobe_a, lobe_b = box(5, 10, 5, 10), box(5, 10, 38, 43)
    gt = CocoDataset(ims, [inst(two_lobes(), 1, FR2)])
    pred = CocoDataset(ims, [inst(lobe_a, 1, FR2, score=0.9), inst(lobe_b, 1, FR2, score=0.8)])
    r = evaluate(gt, pred)
    c = r["FR-II"]
    assert (c.tp, c.fp, c.fn) == (0, 2, 1)
    assert (c.tp_rate, c.fp_rate, c.fn_rate) == (0.0, 200.0, 100.0)
    assert c.mask_ap50 == 0.0
    assert r.confusion[1, 4] == 1  # FR-II missed
    assert r.confusion[4, 1] == 2  # two FR-II predictions matching no source
    # kept whole (our decision 5), the same source is a TP
    whole = CocoDataset(ims, [inst(lobe_a | lobe_b | box(6, 9, 22, 25), 1, FR2, score=0.5)])
    assert evaluate(gt, whole)["FR-II"].mask_ap50 == 100.0


def test_mask_ap_50_95_counts_thresholds_below_the_iou():
    # Truth: a 10x10 box (100 px). Prediction: the same box with 22 interior pixels removed:
    # IoU = 78/100 = 0.78, matched at IoU 0.50, 0.55, ..., 0.75 (6 of the 10 thresholds) and
    # missed at 0.80 .. 0.95: AP50:95 = 6/10 * 100 = 60.0. Its bounding box is the truth's,
    # so box AP50 = 100 and mask AP50 = 100.
    ims = images(1)
    truth = box(10, 20, 10, 20)
    pred = truth & ~box(12, 14, 11, 19) & ~box(15, 16, 11, 17)
    assert pred.sum() == 78
    r = evaluate(CocoDataset(ims, [inst(truth, 1, FRX)]), CocoDataset(ims, [inst(pred, 1, FRX)]))
    assert r["FR-X"].mask_ap == pytest.approx(60.0)
    assert (r["FR-X"].mask_ap50, r["FR-X"].box_ap50) == (100.0, 100.0)


# ------------------------------------------------------------------------ hosts ---------


@pytest.mark.parametrize(
    ("offset", "passes"),
    [
        (2.0, True),  # OKS = exp(-4 / 200) = 0.98
        (1.17 * 10, True),  # just inside 1.177 sqrt(A): OKS = exp(-136.89/200) = 0.504
        (1.18 * 10, False),  # just outside: OKS = exp(-139.24/200) = 0.4985
        (2 * 10, False),  # 2 sqrt(A): OKS = exp(-400/200) = e^-2 = 0.135
    ],
)
def test_host_passes_within_1177_sqrt_area(offset, passes):
    # Truth: a 10x10 box, A = 100 px^2, host at its centre-ish (14, 14).
    assert OKS_TOLERANCE == pytest.approx(1.1774, abs=1e-4)
    ims = images(1)
    truth = box(10, 20, 10, 20)
    gt = CocoDataset(ims, [inst(truth, 1, FR1, host=(14.0, 14.0))])
    pred = CocoDataset(ims, [inst(truth, 1, FR1, host=(14.0 + offset, 14.0), score=0.7)])
    r = evaluate(gt, pred)
    assert r["FR-I"].host_ap50 == (100.0 if passes else 0.0)
    assert r["FR-I"].mask_ap50 == 100.0  # the mask is right either way
    # default pixel scale 2"/px (no radio_wcs)
    assert r["FR-I"].host_median_arcsec == pytest.approx(2.0 * offset)


def test_host_offsets_in_arcsec_from_wcs():
    # 1.5"/px from radio_wcs. Offsets of 3, 4 (3-4-5 triangle: 5) and 0 px:
    # 4.5", 7.5", 0" -> median 4.5", 90th percentile (numpy linear) 4.5 + 0.8 * 3 = 6.9".
    ims = images(3, radio_wcs=wcs_header(1.5))
    m = box(10, 30, 10, 30)
    gt = CocoDataset(ims, [inst(m, i, R, host=(20.0, 20.0)) for i in (1, 2, 3)])
    hosts = [(23.0, 20.0), (23.0, 24.0), (20.0, 20.0)]
    pred = CocoDataset(
        ims, [inst(m, i, R, host=h, score=0.5) for i, h in zip((1, 2, 3), hosts, strict=True)]
    )
    r = evaluate(gt, pred)
    assert r["R"].host_median_arcsec == pytest.approx(4.5)
    assert r["R"].host_p90_arcsec == pytest.approx(6.9)
    assert r.mean.n_host_pairs == 3
    assert r.pixel_scales["from_wcs"] == 3


def test_prediction_without_host_never_matches_and_is_not_a_false_positive():
    # Two FR-I sources with hosts. One prediction has the right host; the other has none:
    # its source's host is missed (recall 1/2) but it is no FP, so precision stays 1:
    # AP = 51/101 (recall thresholds 0.00 .. 0.50).
    ims = images(2)
    m = box(10, 20, 10, 20)
    gt = CocoDataset(ims, [inst(m, 1, FR1, host=(14.0, 14.0)), inst(m, 2, FR1, host=(14.0, 14.0))])
    pred = CocoDataset(
        ims, [inst(m, 1, FR1, host=(14.0, 14.0), score=0.6), inst(m, 2, FR1, host=None, score=0.9)]
    )
    r = evaluate(gt, pred)
    assert r["FR-I"].host_ap50 == pytest.approx(100 * 51 / 101)
    # a truth without host is ignored: with both truth hosts removed host AP is n/a
    no_host = CocoDataset(ims, [inst(m, 1, FR1), inst(m, 2, FR1)])
    assert math.isnan(evaluate(no_host, pred)["FR-I"].host_ap50)


# ------------------------------------------------------------- protocols, matching ------


def test_oracle_uses_overlap_on_images_with_several_classes():
    # Image 1 holds an FR-I and an R; both predicted with swapped classes. Oracle: each takes
    # the class of the source it overlaps most, so both are right.
    ims = images(1)
    a, b = box(2, 12, 2, 12), box(30, 40, 30, 40)
    gt = CocoDataset(ims, [inst(a, 1, FR1), inst(b, 1, R)])
    pred = CocoDataset(ims, [inst(a, 1, R, score=0.9), inst(b, 1, FR1, score=0.8)])
    assert evaluate(gt, pred)["FR-I"].mask_ap50 == 0.0
    o = evaluate(gt, pred, protocol="oracle")
    assert (o["FR-I"].mask_ap50, o["R"].mask_ap50) == (100.0, 100.0)
    assert o.confusion[0].tolist() == [0, 0, 0, 1, 0]  # FR-I called R (model's classes)


def test_greedy_matching_is_cocoevals():
    # The TP/FP/FN counts must come from the same matching COCOeval does: compare our
    # matching with pycocotools' evalImgs on overlapping, competing predictions.
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(3)
    ims = images(3)
    gts, preds = [], []
    for i in (1, 2, 3):
        for _ in range(3):
            r0, c0 = rng.integers(0, 30, 2)
            gts.append(inst(box(r0, r0 + 12, c0, c0 + 12), i, FR1))
        for _ in range(5):
            r0, c0 = rng.integers(0, 30, 2)
            s = int(rng.integers(8, 16))
            preds.append(inst(box(r0, r0 + s, c0, c0 + s), i, FR1, score=float(rng.random())))
    gt_ds, pred_ds = CocoDataset(ims, gts), CocoDataset(ims, preds)
    r = evaluate(gt_ds, pred_ds, iou_threshold=0.3)
    gd = dataset_to_dict(gt_ds)
    dd = dataset_to_dict(pred_ds)["annotations"]
    cg, cd = COCO(), COCO()
    cg.dataset, cd.dataset = gd, {**gd, "annotations": dd}
    cg.createIndex()
    cd.createIndex()
    e = COCOeval(cg, cd, "segm")
    e.params.iouThrs = np.array([0.3])
    e.params.areaRng, e.params.areaRngLbl, e.params.maxDets = [[0, 1e10]], ["all"], [100]
    e.evaluate()
    tp = sum(int((x["dtMatches"][0] > 0).sum()) for x in e.evalImgs if x)
    fp = sum(int((x["dtMatches"][0] == 0).sum()) for x in e.evalImgs if x)
    fn = sum(int((x["gtMatches"][0] == 0).sum()) for x in e.evalImgs if x)
    assert (r["FR-I"].tp, r["FR-I"].fp, r["FR-I"].fn) == (tp, fp, fn)
    assert tp > 0 and fp > 0 and fn > 0  # the case is not trivial


def test_greedy_match_ties_and_threshold():
    iou = np.array([[0.6, 0.6], [0.7, 0.0]])
    # prediction 1 (score 0.9) goes first and takes truth 0; prediction 0 takes truth 1
    dm, gm = greedy_match(iou, np.array([0.5, 0.9]), 0.5)
    assert dm.tolist() == [True, True] and gm.tolist() == [True, True]
    dm, gm = greedy_match(iou, np.array([0.5, 0.9]), 0.65)
    assert dm.tolist() == [False, True] and gm.tolist() == [True, False]


# ------------------------------------------------------------------ bad input -----------


def test_empty_predictions_give_zeros_and_a_warning():
    gt = simulator_like()
    with pytest.warns(EvaluationWarning, match="empty"):
        r = evaluate(gt, CocoDataset(gt.images, []))
    for c in r.classes:
        assert c.mask_ap50 == 0.0 and c.fn_rate == 100.0 and c.tp == 0
    assert r.confusion[:4, 4].tolist() == [1, 1, 1, 2]  # all missed


def test_different_categories_are_refused():
    gt = simulator_like()
    other = ClassScheme(("FRI", "FRII"), (1, 2), name="first")
    pred = CocoDataset(gt.images, [], scheme=other)
    with pytest.raises(EvaluationError, match="different categories"):
        evaluate(gt, pred)


def test_predictions_for_unknown_images_are_refused():
    gt = simulator_like()
    extra = ImageRecord(99, "radio/other.fits", H, W)
    pred = CocoDataset(gt.images + [extra], [inst(box(1, 5, 1, 5), 99, FR1, score=0.5)])
    with pytest.raises(EvaluationError, match=r"images \[99\]"):
        evaluate(gt, pred)


def test_image_sizes_that_disagree_are_refused():
    gt = simulator_like()
    small = [ImageRecord(im.id, im.file_name, 32, 32) for im in gt.images]
    pred = CocoDataset(small, [inst(box(1, 5, 1, 5, shape=(32, 32)), 1, FR2, score=0.5)])
    with pytest.raises(EvaluationError, match="48x48"):
        evaluate(gt, pred)


def test_a_mask_of_the_wrong_size_is_refused():
    gt = simulator_like()
    pred = CocoDataset(gt.images, [inst(box(1, 5, 1, 5, shape=(32, 32)), 1, FR2, score=0.5)])
    with pytest.raises(CocoFormatError, match="does not match"):
        evaluate(gt, pred)


def _write_pred(tmp_path, mutate):
    gt = simulator_like()
    gt_path = write_coco(tmp_path / "gt.json", gt)
    d = dataset_to_dict(as_prediction(gt))
    mutate(d)
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(d))
    return gt_path, pred_path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["annotations"][0].update(category_id=7), "annotations[0].category_id"),
        (lambda d: d["annotations"][1].pop("segmentation"), "annotations[1].segmentation"),
        (
            lambda d: d["annotations"][2]["segmentation"].update(counts="0000"),
            "annotations[2].segmentation.counts",
        ),
        (
            lambda d: d["annotations"][0]["segmentation"].update(size=[40, 48]),
            "annotations[0].segmentation.size",
        ),
    ],
)
def test_bad_prediction_files_give_our_errors(tmp_path, mutate, field, capsys):
    gt_path, pred_path = _write_pred(tmp_path, mutate)
    with pytest.raises(CocoFormatError) as exc:
        evaluate(gt_path, pred_path)
    assert exc.value.field == field
    # and through the CLI: one clean line, exit code 2, no traceback
    assert main(["evaluate", "--gt", str(gt_path), "--pred", str(pred_path)]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err


def test_results_list_predictions(tmp_path):
    # a detectron2-style results list: images and categories come from the truth
    gt = simulator_like()
    gt_path = write_coco(tmp_path / "gt.json", gt)
    results = [
        {k: a[k] for k in ("image_id", "category_id", "segmentation", "score")}
        for a in dataset_to_dict(as_prediction(gt))["annotations"]
    ]
    (tmp_path / "res.json").write_text(json.dumps(results))
    r = evaluate(gt_path, tmp_path / "res.json")
    assert r.mean.mask_ap50 == 100.0
    assert math.isnan(r.mean.host_ap50) or r.mean.host_ap50 == 0.0  # no hosts claimed
    results[0]["image_id"] = 12345
    (tmp_path / "res.json").write_text(json.dumps(results))
    with pytest.raises(EvaluationError, match="12345"):
        evaluate(gt_path, tmp_path / "res.json")


def test_some_predictions_without_score_warn():
    gt = simulator_like()
    pred = as_prediction(gt)
    pred.instances[0].score = None
    with pytest.warns(EvaluationWarning, match="no score"):
        evaluate(gt, pred)


# ------------------------------------------------------------------ backends, CLI -------


def noisy_case(seed=0):
    """Imperfect predictions: shifted masks, wrong classes, spurious ones, host errors."""
    rng = np.random.default_rng(seed)
    ims = images(8)
    gts, preds = [], []
    cats = list(RADIOGALAXYNET.coco_ids)
    for i in range(1, 9):
        for _ in range(int(rng.integers(1, 3))):
            r0, c0 = (int(v) for v in rng.integers(2, 30, 2))
            s = int(rng.integers(6, 16))
            cat = int(rng.choice(cats))
            host = (c0 + s / 2, r0 + s / 2)
            gts.append(inst(box(r0, r0 + s, c0, c0 + s), i, cat, host=host))
            dr, dc = (int(v) for v in rng.integers(-3, 4, 2))
            pcat = cat if rng.random() < 0.7 else int(rng.choice(cats))
            phost = (
                None
                if rng.random() < 0.2
                else (host[0] + rng.normal(0, 3), host[1] + rng.normal(0, 3))
            )
            m = box(max(r0 + dr, 0), r0 + dr + s, max(c0 + dc, 0), c0 + dc + s)
            preds.append(inst(m, i, pcat, host=phost, score=float(rng.random())))
        if rng.random() < 0.5:
            preds.append(inst(disk(40, 40, 4), i, int(rng.choice(cats)), score=float(rng.random())))
    return CocoDataset(ims, gts), CocoDataset(ims, preds)


def test_faster_coco_eval_gives_identical_numbers():
    pytest.importorskip("faster_coco_eval")
    gt, pred = noisy_case()
    for protocol in ("predicted", "oracle"):
        a = evaluate(gt, pred, protocol=protocol, backend="pycocotools").to_dict()
        b = evaluate(gt, pred, protocol=protocol, backend="faster-coco-eval").to_dict()
        assert a.pop("backend") == "pycocotools" and b.pop("backend") == "faster-coco-eval"
        assert a == b
        values = [v for c in a["classes"].values() for v in c.values() if isinstance(v, float)]
        assert any(0 < v < 100 for v in values)  # a case that is neither 0 nor perfect


def test_cli_gt_against_itself_prints_100(tmp_path, capsys):
    path = write_coco(tmp_path / "annotations" / "test.json", simulator_like())
    out_json = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--gt",
                str(path),
                "--pred",
                str(path),
                "--json",
                str(out_json),
                "--protocol",
                "both",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    ap_rows = [ln for ln in out.splitlines() if "AP" in ln and ln.split()[-1][0].isdigit()]
    assert len(ap_rows) == 8  # 4 AP rows x 2 protocols
    for line in ap_rows:
        assert line.split()[-5:] == ["100.0"] * 5, line
    assert "ORACLE" in out
    saved = json.loads(out_json.read_text())
    assert saved["results"]["predicted"]["mean"]["mask_ap50"] == 100.0
    assert saved["results"]["oracle"]["classes"]["FR-II"]["host_ap50"] == 100.0


def test_simulator_output_against_itself_is_100(tmp_path):
    sky = pytest.importorskip("napari_radiogal.sky")
    if not hasattr(sky, "write_dataset"):
        pytest.skip("napari_radiogal.sky.write_dataset not there yet")
    paths = sky.write_dataset(tmp_path / "sim", n=6, seed=1)
    jsons = [Path(p) for p in paths.values() if str(p).endswith(".json")]
    ann = max(jsons, key=lambda p: len(read_coco(p).instances))  # the split with most sources
    r = evaluate(ann, ann)
    for name, cells in ap_cells(r).items():
        assert all(math.isnan(v) or v == pytest.approx(100.0) for v in cells), (name, cells)


def test_cli_empty_prediction_file_gives_zeros(tmp_path, capsys):
    gt_path = write_coco(tmp_path / "gt.json", simulator_like())
    (tmp_path / "empty.json").write_text("[]")
    with pytest.warns(EvaluationWarning, match="empty"):
        code = main(["evaluate", "--gt", str(gt_path), "--pred", str(tmp_path / "empty.json")])
    assert code == 0
    mask_row = next(
        ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("mask AP50 ")
    )
    assert mask_row.split()[-5:] == ["0.0"] * 5
