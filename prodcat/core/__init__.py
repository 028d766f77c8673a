"""The pipeline's spine: errors, atomic I/O, the stage CLI, the params schema, the stage list and the variant registry."""
