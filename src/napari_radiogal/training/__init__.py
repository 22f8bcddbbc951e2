"""Weakly supervised training: CAM, ReCAM and IRNet stages from image-level labels."""
