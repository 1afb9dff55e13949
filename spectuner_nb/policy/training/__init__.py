"""Training of the policy (docs/method.md §6), apart from its inference.

:mod:`.train` (``Trainer``, ``TrainConfig``), :mod:`.replay` (the prioritised replay
buffer), :mod:`.augment` (training augmentations), :mod:`.dataset` (training pixels),
:mod:`.recipe` (the stages that made the shipped checkpoint), :mod:`.workflow` and
:mod:`.evaluate` (the steps of the training notebooks). Importing
:mod:`spectuner_nb.policy` for inference never imports this package.
"""

__all__: list[str] = []
