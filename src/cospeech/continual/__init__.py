"""Continual few-shot personalisation: speaker after speaker, without forgetting the earlier ones.

``replay`` (the registered replay strategies) depends only on the registry, so the data module can read it;
``methods`` (the method configs), ``runner`` (task sequences) and ``results`` (accuracy and forgetting
matrices) sit above training and evaluation (``docs/continual.md``). This package imports nothing else on
import.
"""
