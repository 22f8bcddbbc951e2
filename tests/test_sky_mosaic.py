"""The simulated mosaic of ``radiogal simulate --mosaic``: files, truth, components, determinism."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from napari_radiogal.cli import main
from napari_radiogal.io.coco import read_coco
from napari_radiogal.io.fits import read_infrared, read_radio
from napari_radiogal.sky.mosaic import write_mosaic


def test_mosaic_files_truth_and_components(tmp_path):
    files = write_mosaic(tmp_path, 440, seed=3, border=10)
    assert files.n_tiles == 4
    radio = read_radio(files.radio, lazy=True, require_wcs=True)
    assert radio.shape == (440, 440) and radio.beam is not None
    data = np.asarray(radio.data, dtype=np.float32)
    assert np.isnan(data[:10]).all() and np.isnan(data[:, -10:]).all()  # blanked border
    assert np.isfinite(data[10:430, 10:430]).all()
    ir = read_infrared(files.infrared, lazy=True, require_wcs=True)
    assert ir.shape == radio.shape and ir.magzp == 20.5
    truth = read_coco(files.truth)
    assert len(truth.images) == 4 and len(truth.instances) == files.n_sources >= 4
    for image in truth.images:
        r0, c0, h, w = image.extra["window"]
        assert (h, w) == (210, 210) and 10 <= r0 <= 220 and 10 <= c0 <= 220
    for a in truth.instances:  # host RA/Dec are on the mosaic's WCS
        r0, c0 = truth.image(a.image_id).extra["window"][:2]
        ra, dec = radio.wcs.pixel_to_world_values(a.host[0] + c0, a.host[1] + r0)
        assert abs(ra - a.host_ra) < 1e-6 and abs(dec - a.host_dec) < 1e-6
    components = Table.read(files.components)
    assert len(components) == files.n_components > files.n_sources
    assert components.colnames[:4] == ["component_id", "ra_deg_cont", "dec_deg_cont", "flux_int"]
    x, y = radio.wcs.world_to_pixel_values(components["ra_deg_cont"], components["dec_deg_cont"])
    assert (x > 9).all() and (x < 431).all() and (y > 9).all() and (y < 431).all()
    assert (components["flux_int"] > 0).all()


def test_same_seed_same_bytes_through_the_cli(tmp_path, capsys):
    for name in ("a", "b"):
        assert (
            main(["simulate", "--mosaic", "320", "--seed", "2", "--out", str(tmp_path / name)]) == 0
        )
    assert "1 tiles" in capsys.readouterr().out
    for name in ("radio.fits", "w1.fits", "components.ecsv", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_mosaic_too_small_and_n_with_mosaic_are_refused(tmp_path, capsys):
    assert main(["simulate", "--mosaic", "100", "--out", str(tmp_path)]) == 2
    assert "at least one 210 px tile plus a 52 px border" in capsys.readouterr().err
    assert main(["simulate", "--mosaic", "500", "--n", "3", "--out", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
