"""Exceptions users see. The CLI prints any ``CospeechError`` as one line and exits 1.

Messages name the input (file, key, config field), the value found and what was expected.
"""


class CospeechError(Exception):
    """Root of every error cospeech raises on purpose."""


class DataError(CospeechError):
    """A dataset file or directory is missing, corrupt or in the wrong format."""


class AudioError(CospeechError):
    """An audio file cannot be read or holds no samples."""


class ConfigError(CospeechError):
    """A configuration key or value is unknown or invalid."""


class OutputError(CospeechError):
    """An output file or directory cannot be written where it was asked for."""


class RenderError(CospeechError):
    """Poses, audio or settings given to a renderer are unusable (wrong shape, NaN, bad size…)."""


class CheckpointError(CospeechError):
    """A checkpoint or exported model is missing, corrupt or does not match the model."""
