"""cospeech: co-speech gesture generation from speech, personalised to new speakers.

Layers, in the one direction data flows: ``skeletons``/``audio`` → ``data`` → ``models`` → ``training``
→ ``continual`` → ``metrics`` → ``inference`` → ``render`` → ``cli``.
"""

__version__ = "0.1.0"
