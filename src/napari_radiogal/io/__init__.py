"""Reading and writing: FITS images (:mod:`.fits`), sky alignment (:mod:`.align`) and COCO
JSON (:mod:`.coco`). Import the submodules directly; this package imports nothing heavy."""
