"""Networks: backbone registry, CAM / ReCAM heads, IRNet heads, weights files."""
