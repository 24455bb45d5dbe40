"""Continual few-shot personalisation: speaker after speaker, without forgetting the earlier ones.

``replay`` (the registered replay strategies) depends only on the registry, so the data module can read it;
this package imports nothing else on import.
"""
