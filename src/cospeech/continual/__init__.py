"""Continual few-shot personalisation (DiffGAN, C-DiffGAN and the replay baselines): replay strategies,
task sequences and their results (``docs/continual.md``)."""
