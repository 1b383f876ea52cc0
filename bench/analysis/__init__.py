"""The analysis layer: reads runs through bench.format and turns them into answers (speed-ups, fits,
crossovers, tables, reports, figures, comparisons, history, the ladder). Imports bench.format and
mlp_core, never the engine or the command line. Light on purpose: `python -m bench.analysis --help`
imports this package."""
