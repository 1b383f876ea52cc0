"""The engine layer: measuring. Worker processes, the one measuring loop and its policies, the run
session that records through bench.format, the executors (local, Ray), shards, the instruction-count
gate. Imports bench.format and mlp_core, never analysis or the command line."""
