"""`python -m bench.run`: train the article's configuration once per device and print what it measured."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mlp_core import Device, DTypeMode, ExecMode, TrainConfig, make_data, train
    from mlp_core.placement import DeviceUnavailableError

    data = make_data(seed=0)
    for device in Device:
        config = TrainConfig(device=device, dtype=DTypeMode.FLOAT64_CAST, mode=ExecMode.EAGER)
        try:
            result = train(data, config)
        except DeviceUnavailableError as exc:
            print(f"{device.value}: skipped: {exc}")
            continue
        times = ", ".join(f"{t:.3f}" for t in result.epoch_times_s)
        mses = ", ".join(f"{m:.4f}" for m in result.train_mse)
        print(f"{device.value} (ran on {result.device}): epoch times [s] {times}; "
              f"train MSE {mses}; test MSE {result.test_mse:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
