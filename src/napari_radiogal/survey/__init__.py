"""Survey scale: a whole mosaic to one consolidated catalogue.

``radiogal survey MOSAIC.fits [--ir W1.fits] [--components CAT] --out DIR`` and the
function behind it, :func:`survey`. Windows are chosen blind over the mosaic or centred on
the components of a source-finder catalogue (:mod:`~napari_radiogal.survey.windows`,
:mod:`~napari_radiogal.survey.catalogue_input`), segmented in batches in this process or on
a Dask cluster (:mod:`~napari_radiogal.survey.work`,
:mod:`~napari_radiogal.survey.distributed`), recorded in a crash-safe manifest
(:mod:`~napari_radiogal.survey.manifest`), consolidated into one row per source
(:mod:`~napari_radiogal.survey.consolidate`) and written as ECSV / FITS / VOTable, DS9 / CRTF
regions and a COCO file of the windows (:mod:`~napari_radiogal.survey.outputs`,
:mod:`~napari_radiogal.survey.run`).
"""

from napari_radiogal.survey.catalogue_input import Components, read_components
from napari_radiogal.survey.consolidate import assign_components, consolidate, overlap_groups
from napari_radiogal.survey.manifest import Manifest
from napari_radiogal.survey.run import (
    DEFAULT_MODEL,
    OUTPUT_NAMES,
    SurveyPlan,
    SurveyResult,
    plan_survey,
    run_plan,
    survey,
    write_catalogue,
)

__all__ = [
    "survey",
    "plan_survey",
    "run_plan",
    "write_catalogue",
    "SurveyPlan",
    "SurveyResult",
    "Manifest",
    "Components",
    "read_components",
    "consolidate",
    "overlap_groups",
    "assign_components",
    "DEFAULT_MODEL",
    "OUTPUT_NAMES",
]
