"""The numeric core: NumPy and the standard library only; no files, no printing, no global RNG."""
