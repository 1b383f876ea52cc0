"""The benchmark harness around mlp_core: sweep runner, statistics, results, plots, CI gate."""
