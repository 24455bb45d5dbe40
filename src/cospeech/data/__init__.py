"""Data layer: PATS on-disk format, windows, normalisation, few-shot subsets, cache, synthetic corpus."""
