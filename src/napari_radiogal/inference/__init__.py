"""From a radio (and infrared) image to instances: masks, classes, scores and hosts."""
