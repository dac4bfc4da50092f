"""The experiment layer: configs, run folders, training, compare, sweeps, summaries."""
