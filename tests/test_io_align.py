"""Tests of napari_radiogal.io.align: reprojection onto the radio grid and cut-outs."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

import _fits_twins as twins
from napari_radiogal.errors import FitsFormatWarning, InputImageError, InputImageWarning
from napari_radiogal.io.align import cutout, reproject_to_grid
from napari_radiogal.io.fits import (
    InfraredImage,
    RadioImage,
    infrared_image_from_array,
    is_lazy,
    radio_image_from_array,
    read_infrared,
    read_radio,
    write_fits,
)

W1_FWHM_ARCSEC = 6.1
RADIO_CENTRE = (150.0, -30.0)


def make_wcs(
    shape: tuple[int, int],
    scale_arcsec: float,
    projection: str,
    crval: tuple[float, float] = RADIO_CENTRE,
    crpix: tuple[float, float] | None = None,
    rotation_deg: float = 0.0,
) -> WCS:
    """Celestial WCS, north up (or rotated), RA increasing to the left; CRPIX 1-based."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [f"RA---{projection}", f"DEC--{projection}"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = list(crpix) if crpix is not None else [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    theta = np.radians(rotation_deg)
    scale = scale_arcsec / 3600
    wcs.wcs.cd = np.array(
        [
            [-scale * np.cos(theta), scale * np.sin(theta)],
            [scale * np.sin(theta), scale * np.cos(theta)],
        ]
    )
    wcs.wcs.radesys = "ICRS"
    wcs.pixel_shape = (shape[1], shape[0])
    return wcs


def radio_grid(shape=(96, 96)) -> RadioImage:
    """A 2"/px SIN radio grid (ASKAP-like) centred on RADIO_CENTRE."""
    wcs = make_wcs(shape, 2.0, "SIN")
    return radio_image_from_array(
        np.zeros(shape, np.float32), wcs, beam=(15 / 3600, 10 / 3600, 0.0)
    )


def ir_point_source(coord: SkyCoord, wcs: WCS, shape, *, amplitude=500.0, noise=0.5, seed=0):
    """W1-like image: a Gaussian PSF (FWHM 6.1") at ``coord`` on a flat background."""
    x, y = (float(v) for v in wcs.world_to_pixel(coord))
    scale = float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))) * 3600
    sigma = W1_FWHM_ARCSEC / 2.3548 / scale
    data = (
        twins.gaussian_sources(
            shape, [(x, y)], sigma=sigma, amplitude=amplitude, noise=noise, seed=seed
        )
        + 20.0
    )
    return infrared_image_from_array(data, wcs, unit="DN", magzp=20.5)


def centroid(image: np.ndarray, half: int = 4) -> tuple[float, float]:
    """Background-subtracted intensity centroid (x, y) around the brightest pixel."""
    data = np.nan_to_num(image, nan=np.nanmedian(image))
    row, col = np.unravel_index(np.argmax(data), data.shape)
    window = data[row - half : row + half + 1, col - half : col + half + 1]
    window = np.clip(window - np.median(data), 0, None)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    total = window.sum()
    return col + float((xx * window).sum() / total), row + float((yy * window).sum() / total)


# ----------------------------------------------------------------------------------------
# The alignment test of issue 3
# ----------------------------------------------------------------------------------------
IR_GRIDS = {
    # AllWISE-atlas-like: 1.375"/px TAN, centred elsewhere, slightly rotated
    "1.375 TAN": dict(
        shape=(220, 220), scale=1.375, projection="TAN", crval=(150.01, -29.995), rotation=7.0
    ),
    # unWISE-like: 2.75"/px TAN whose tangent point is ~0.6 deg away (CRPIX far outside)
    "2.75 TAN far tangent": dict(
        shape=(100, 100),
        scale=2.75,
        projection="TAN",
        crval=(150.6, -30.3),
        crpix=(-740.0, 430.0),
        rotation=0.0,
    ),
}


@pytest.mark.parametrize("grid", sorted(IR_GRIDS))
@pytest.mark.parametrize("offset_arcsec", [(0.0, 0.0), (23.3, -41.7), (-70.1, 65.9), (51.0, 12.4)])
def test_ir_point_source_lands_on_the_right_radio_pixel(grid: str, offset_arcsec) -> None:
    spec = IR_GRIDS[grid]
    radio = radio_grid()
    centre = SkyCoord(*RADIO_CENTRE, unit="deg")
    source = centre.spherical_offsets_by(offset_arcsec[0] * u.arcsec, offset_arcsec[1] * u.arcsec)
    ir_wcs = make_wcs(
        spec["shape"],
        spec["scale"],
        spec["projection"],
        crval=spec["crval"],
        crpix=spec.get("crpix"),
        rotation_deg=spec["rotation"],
    )
    if "crpix" in spec:  # put the image where the source is: shift CRPIX, keep the tangent
        x, y = ir_wcs.world_to_pixel(centre)
        ir_wcs.wcs.crpix = ir_wcs.wcs.crpix - [float(x) - 42, float(y) - 58]
    ir = ir_point_source(source, ir_wcs, spec["shape"])

    on_radio = reproject_to_grid(ir, radio)

    assert on_radio.shape == radio.shape and on_radio.data.dtype == np.float32
    assert not np.isnan(on_radio.data).any()
    expected = np.array([float(v) for v in radio.wcs.world_to_pixel(source)])
    measured = np.array(centroid(on_radio.data))
    assert np.hypot(*(measured - expected)) < 0.5, (measured, expected)
    # and the source is not simply at the same pixel index as in the IR image
    in_ir = np.array([float(v) for v in ir.wcs.world_to_pixel(source)])
    assert np.hypot(*(in_ir - expected)) > 5


def test_alignment_survives_a_fits_round_trip(tmp_path: Path) -> None:
    """The same check through files: AllWISE-style IR twin vs a 4-D ASKAP-style radio twin."""
    radio = read_radio(twins.askap_vast_4d(tmp_path / "radio.fits", size=64))
    ir_wcs = make_wcs((130, 130), 1.375, "TAN", crval=(150.003, -30.002), rotation_deg=-3)
    source = SkyCoord(150.0042, -29.9971, unit="deg")
    ir = write_fits(ir_point_source(source, ir_wcs, (130, 130)), tmp_path / "ir.fits")
    on_radio = reproject_to_grid(read_infrared(ir), radio)
    expected = np.array([float(v) for v in radio.wcs.world_to_pixel(source)])
    assert np.hypot(*(np.array(centroid(on_radio.data)) - expected)) < 0.5


@pytest.mark.parametrize("method", ["adaptive", "exact"])
def test_other_methods_also_align(method: str) -> None:
    radio = radio_grid((40, 40))
    source = SkyCoord(150.001, -29.9985, unit="deg")
    ir = ir_point_source(
        source, make_wcs((80, 80), 1.375, "TAN", crval=(150.0005, -30.0)), (80, 80)
    )
    on_radio = reproject_to_grid(ir, radio, method=method)
    expected = np.array([float(v) for v in radio.wcs.world_to_pixel(source)])
    assert np.hypot(*(np.array(centroid(on_radio.data)) - expected)) < 0.5


# ----------------------------------------------------------------------------------------
# Reprojection: coverage, errors, metadata
# ----------------------------------------------------------------------------------------
def test_reprojected_image_carries_the_radio_grid() -> None:
    radio = radio_grid((30, 40))
    ir = ir_point_source(
        SkyCoord(*RADIO_CENTRE, unit="deg"), make_wcs((80, 80), 1.375, "TAN"), (80, 80)
    )
    out = reproject_to_grid(ir, radio)
    assert isinstance(out, InfraredImage) and out.shape == (30, 40)
    assert out.wcs is not radio.wcs
    np.testing.assert_array_equal(out.wcs.wcs.crpix, radio.wcs.wcs.crpix)
    np.testing.assert_array_equal(out.wcs.pixel_scale_matrix, radio.wcs.pixel_scale_matrix)
    assert out.unit == "DN" and out.magzp == 20.5
    assert out.pixel_scale_arcsec == pytest.approx(2.0)
    assert out.header["NAXIS1"] == 40 and out.header["CTYPE1"] == "RA---SIN"


def test_partial_overlap_warns_and_leaves_nan() -> None:
    radio = radio_grid((40, 40))
    # IR covers only the eastern half (left half of a north-up image, RA increases left)
    ir_wcs = make_wcs(
        (40, 20), 2.0, "SIN", crval=(150.0 + 20 / 3600 / np.cos(np.radians(30)), -30.0)
    )
    ir = infrared_image_from_array(np.ones((40, 20), np.float32), ir_wcs)
    with pytest.warns(InputImageWarning, match=r"covers only 5\d\.\d% of the radio grid"):
        out = reproject_to_grid(ir, radio)
    nan = np.isnan(out.data)
    assert 0.4 < nan.mean() < 0.6
    assert nan[:, -5:].all() and not nan[:, :15].any()
    np.testing.assert_allclose(out.data[~nan], 1.0)


def test_no_overlap_is_an_error() -> None:
    radio = radio_grid((20, 20))
    ir = infrared_image_from_array(
        np.ones((20, 20), np.float32), make_wcs((20, 20), 1.375, "TAN", crval=(160.0, -30.0))
    )
    with pytest.raises(InputImageError, match=r"does not overlap .* at all.*apart"):
        reproject_to_grid(ir, radio)
    far_side = infrared_image_from_array(
        np.ones((20, 20), np.float32), make_wcs((20, 20), 1.375, "SIN", crval=(330.0, 30.0))
    )
    with pytest.raises(InputImageError, match="does not overlap"):
        reproject_to_grid(far_side, radio)


def test_pixel_only_images_cannot_be_aligned() -> None:
    radio = radio_grid((10, 10))
    no_wcs = InfraredImage(np.ones((10, 10), np.float32), None)
    with pytest.raises(InputImageError, match="pixel-only"):
        reproject_to_grid(no_wcs, radio)
    with pytest.raises(InputImageError, match="pixel-only"):
        reproject_to_grid(
            infrared_image_from_array(np.ones((10, 10)), radio.wcs),
            RadioImage(np.zeros((10, 10), np.float32), None),
        )
    with pytest.raises(InputImageError, match="method='fast'"):
        reproject_to_grid(no_wcs, radio, method="fast")


def test_reprojection_reads_only_the_needed_part_of_a_lazy_mosaic(tmp_path: Path) -> None:
    size = 2048  # 16 MB of IR pixels on disk
    wcs = make_wcs((size, size), 1.375, "TAN")
    header = wcs.to_header()
    cards = [(card.keyword, card.value) for card in header.cards] + [("BUNIT", "DN")]
    mosaic = np.zeros((size, size), np.float32)
    source = SkyCoord(150.003, -30.004, unit="deg")
    x, y = (float(v) for v in wcs.world_to_pixel(source))
    mosaic[int(y) - 10 : int(y) + 11, int(x) - 10 : int(x) + 11] = twins.gaussian_sources(
        (21, 21), [(10 + x - int(x), 10 + y - int(y))], sigma=1.9, amplitude=100.0
    )
    path = twins.write_raw_fits(tmp_path / "w1_mosaic.fits", mosaic, cards)
    del mosaic
    radio = radio_grid((48, 48))
    ir = read_infrared(path, lazy=True)
    tracemalloc.start()
    try:
        out = reproject_to_grid(ir, radio)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert is_lazy(ir)
    assert peak < 2_000_000, f"{peak / 1e6:.1f} MB for a 48x48 output from a 16 MB mosaic"
    expected = np.array([float(v) for v in radio.wcs.world_to_pixel(source)])
    assert np.hypot(*(np.array(centroid(out.data)) - expected)) < 0.5


# ----------------------------------------------------------------------------------------
# Cut-outs
# ----------------------------------------------------------------------------------------
@pytest.fixture()
def vast(tmp_path: Path) -> Path:
    return twins.askap_vast_4d(tmp_path / "vast.fits", size=64)


def test_cutout_at_a_sky_position_keeps_the_wcs(vast: Path) -> None:
    image = read_radio(vast)
    target = SkyCoord(150.002, -29.995, unit="deg")
    piece = cutout(image, target, 21)
    assert isinstance(piece, RadioImage) and piece.shape == (21, 21)
    # the target sits on the cut-out's central pixel to within half a pixel
    x, y = (float(v) for v in piece.wcs.world_to_pixel(target))
    assert abs(x - 10) <= 0.5 and abs(y - 10) <= 0.5
    # pixels are exactly the parent's, and the parent's WCS agrees at every pixel
    px, py = (float(v) for v in image.wcs.world_to_pixel(target))
    x0, y0 = round(px) - 10, round(py) - 10
    np.testing.assert_array_equal(piece.data, image.data[y0 : y0 + 21, x0 : x0 + 21])
    np.testing.assert_allclose(
        piece.wcs.pixel_to_world_values(3, 4),
        image.wcs.pixel_to_world_values(x0 + 3, y0 + 4),
        atol=1e-10,
    )
    assert piece.beam == image.beam and piece.frequency_hz == image.frequency_hz
    assert piece.header["LTV1"] == -x0 and piece.header["LTV2"] == -y0
    assert piece.header["NAXIS1"] == 21 and piece.header["CRPIX1"] == pytest.approx(33 - x0)


def test_cutout_sizes_pixels_and_angles(vast: Path) -> None:
    image = read_radio(vast)
    assert cutout(image, (31.6, 20.2), (7, 11)).shape == (7, 11)
    assert cutout(image, (31.6, 20.2), 1 * u.arcmin).shape == (30, 30)  # 2"/px
    assert cutout(image, (31.6, 20.2), [20, 40] * u.arcsec).shape == (10, 20)
    assert cutout(image, (31.6, 20.2), 5 * u.pixel).shape == (5, 5)
    with pytest.raises(InputImageError, match="size must be"):
        cutout(image, (31.6, 20.2), 0)


def test_cutout_at_the_edge(vast: Path) -> None:
    image = read_radio(vast)
    with pytest.warns(InputImageWarning, match="extends beyond .* 20 of its 36 pixels"):
        piece = cutout(image, (1, 1), 6)  # covers pixels -2..3: 4 x 4 inside
    assert piece.shape == (6, 6) and int(np.isnan(piece.data).sum()) == 20
    trimmed = cutout(image, (1, 1), 6, mode="trim")
    assert trimmed.shape == (4, 4) and not np.isnan(trimmed.data).any()
    with pytest.raises(InputImageError, match="mode='strict'"):
        cutout(image, (1, 1), 6, mode="strict")
    with pytest.raises(InputImageError, match="does not overlap"):
        cutout(image, (500, 500), 6)


def test_cutout_of_infrared_and_pixel_only_images(tmp_path: Path) -> None:
    ir = read_infrared(twins.allwise_sin(tmp_path / "w1.fits"))
    piece = cutout(ir, SkyCoord(150.0, 2.2, unit="deg"), 30 * u.arcsec)
    assert isinstance(piece, InfraredImage) and piece.magzp == 20.5 and piece.unit == "DN"
    assert piece.shape == (22, 22)  # 30" / 1.375"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitsFormatWarning)  # tested in test_io_fits
        blind = read_radio(twins.no_wcs_nan_blank(tmp_path / "nowcs.fits"))
    assert cutout(blind, (20, 20), 8).wcs is None
    with pytest.raises(InputImageError, match="pixel-only"):
        cutout(blind, SkyCoord(150.0, 2.2, unit="deg"), 8)
    with pytest.raises(InputImageError, match="pixel-only"):
        cutout(blind, (20, 20), 1 * u.arcmin)
    with pytest.raises(InputImageError, match="far side"):
        cutout(ir, SkyCoord(330.0, -2.2, unit="deg"), 8)


def test_cutout_round_trip_through_fits(vast: Path, tmp_path: Path) -> None:
    piece = cutout(read_radio(vast), SkyCoord(150.0, -30.0, unit="deg"), 16)
    again = read_radio(write_fits(piece, tmp_path / "piece.fits"))
    np.testing.assert_array_equal(again.data, piece.data)
    xs, ys = np.array([0.0, 15.0, 7.3]), np.array([0.0, 15.0, 2.9])
    np.testing.assert_allclose(
        again.wcs.pixel_to_world_values(xs, ys),
        piece.wcs.pixel_to_world_values(xs, ys),
        rtol=0,
        atol=1e-12,
    )
    assert again.beam == piece.beam and again.frequency_hz == piece.frequency_hz


def test_cutout_of_a_lazy_mosaic_reads_only_the_cutout(tmp_path: Path) -> None:
    size = 2000  # 16 MB on disk, big-endian float32
    mosaic = np.zeros((size, size), np.float32)
    mosaic[1000, 1000] = 1.0
    mosaic[990, 1010] = -1.0  # equals BLANK: blanked when read
    path = twins.write_raw_fits(
        tmp_path / "mosaic.fits",
        mosaic,
        [*twins.simple_sin_cards(crpix=(1000.5, 1000.5)), ("BLANK", -1)],
    )
    del mosaic
    file_bytes = path.stat().st_size
    image = read_radio(path, lazy=True)
    assert is_lazy(image) and image.data.dtype == np.dtype(">f4")
    tracemalloc.start()
    try:
        with pytest.warns(FitsFormatWarning, match="1 pixel.* equal it"):
            piece = cutout(image, SkyCoord(150.0, -30.0, unit="deg"), 64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < file_bytes / 50, f"peak {peak} bytes for a 64x64 cut-out of {file_bytes}"
    assert piece.data.dtype == np.float32 and piece.data.dtype.isnative
    assert piece.data.flags.owndata and not is_lazy(piece)
    assert np.nansum(piece.data) == 1.0 and int(np.isnan(piece.data).sum()) == 1


def test_lazy_cutout_converts_mjy(tmp_path: Path) -> None:
    cards = [c for c in twins.simple_sin_cards() if c[0] != "BUNIT"] + [("BUNIT", "mJy/beam")]
    path = twins.write_raw_fits(tmp_path / "mjy.fits", np.full((20, 20), 5.0, np.float32), cards)
    image = read_radio(path, lazy=True)
    assert image.unit == "mJy/beam"  # nothing read yet, nothing converted yet
    piece = cutout(image, (10, 10), 4)
    assert piece.unit == "Jy/beam" and piece.header["BUNIT"] == "Jy/beam"
    np.testing.assert_allclose(piece.data, 5e-3)


def test_cutout_is_quiet_for_clean_inputs(vast: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cutout(read_radio(vast, lazy=True), SkyCoord(150.0, -30.0, unit="deg"), 16)
