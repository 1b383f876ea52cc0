"""Where work runs: device names, visibility checks, hard placement, and reading the real device."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tensorflow as tf

from mlp_core.enums import Device
from mlp_core.errors import PlacementError, UnavailableError

__all__ = ["DeviceUnavailableError", "PlacementError", "canonical", "check_placement", "hard_placement",
           "tf_device_name", "visible_devices"]


class DeviceUnavailableError(UnavailableError):
    """The requested device is not visible to TensorFlow."""

    def __init__(self, device: Device, visible: list[str]) -> None:
        self.device = device
        self.visible = visible
        super().__init__(
            f"device {device.value!r} requested but TensorFlow sees no {device.value.upper()} "
            f"(visible: {', '.join(visible) or 'none'})"
        )


def visible_devices(device_type: str | None = None) -> list[str]:
    """Logical devices TensorFlow sees, as 'cpu:0', 'gpu:0', ..."""
    return [canonical(d.name) for d in tf.config.list_logical_devices(device_type)]


def canonical(device_string: str) -> str:
    """'/job:localhost/replica:0/task:0/device:GPU:0' -> 'gpu:0'."""
    spec = tf.DeviceSpec.from_string(device_string)
    return f"{(spec.device_type or '?').lower()}:{spec.device_index or 0}"


def tf_device_name(device: Device, index: int = 0) -> str:
    """The tf.device() string for a requested device, after checking it is visible."""
    kind = device.value.upper()
    if not tf.config.list_logical_devices(kind):
        raise DeviceUnavailableError(device, visible_devices())
    return f"/{kind}:{index}"


@contextlib.contextmanager
def hard_placement(enabled: bool = True) -> Iterator[None]:
    """Turn TF's soft placement off (a missing device then fails instead of falling back)."""
    previous = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(not enabled)
    try:
        yield
    finally:
        tf.config.set_soft_device_placement(previous)


def check_placement(requested: str, *tensors: tf.Tensor | tf.Variable) -> str:
    """The device the tensors live on ('gpu:0'); PlacementError unless every one is `requested`."""
    devices = {canonical(t.device) for t in tensors}
    if devices != {requested}:
        raise PlacementError(f"requested {requested} but the ops ran on {', '.join(sorted(devices))}")
    return requested
