"""mlp_core.trainer, the one place that names the built-in backends: its table covers every built-in mode and
agrees with the registry's facts, and a mode it cannot run says why in one line. No TensorFlow needed."""

from __future__ import annotations

import pytest

from mlp_core import modes, trainer
from mlp_core.modes import Mode


def test_every_built_in_mode_has_its_trainer_and_only_distributable_ones_a_distributed_trainer():
    assert set(trainer.BUILTIN) == set(modes.BUILTIN)
    assert set(trainer.DISTRIBUTED) == {m for m in modes.BUILTIN if modes.get(m).distributable}
    for target in [*trainer.BUILTIN.values(), *trainer.DISTRIBUTED.values(), trainer.GENERIC]:
        module, _, attr = target.partition(":")
        assert module.startswith("mlp_core.") and attr, target


def test_the_numpy_mode_loads_its_backend():
    from mlp_core.reference import NumpyTrainer  # noqa: PLC0415 - the class the table must give

    assert trainer.load(modes.get("numpy")) is NumpyTrainer


def test_a_mode_known_only_from_a_record_does_not_run_and_says_why():
    recorded = Mode.from_facts("someone_elses", modes.get("numpy").facts())
    with pytest.raises(RuntimeError, match="known only from a run directory's record; install its plug-in"):
        trainer.load(recorded)


def test_a_plug_in_mode_without_a_trainer_is_told_how_to_declare_one():
    bare = Mode(name="bare", summary="s", library="NumPy", install="pip install numpy", needs_tensorflow=False)
    with pytest.raises(RuntimeError, match=r"names no trainer \(a plug-in declares Mode\(trainer="):
        trainer.load(bare)


def test_a_plug_in_s_trainer_string_is_checked_at_declaration():
    with pytest.raises(ValueError, match="trainer 'nocolon' is not 'package.module:attribute'"):
        Mode(name="x", summary="s", library="NumPy", install="-", needs_tensorflow=False, trainer="nocolon")
    with pytest.raises(ValueError, match="distributed_trainer for a mode that is not distributable"):
        Mode(name="x", summary="s", library="NumPy", install="-", needs_tensorflow=False, trainer="a:b",
             distributed_trainer="a:c")
