"""Continual few-shot personalisation: speaker after speaker, without forgetting the earlier ones.

``methods`` (the method configs), ``runner`` (task sequences) and ``results`` (accuracy and forgetting
matrices) sit above training and evaluation (``docs/continual.md``); the replay strategies they name are
``cospeech.data.replay``, read by the data module and the training recipe. This package imports nothing
on import.
"""
