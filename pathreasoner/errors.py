"""Typed errors. Every message says what was wrong, the offending value, and how to fix it."""

from __future__ import annotations


class PathReasonerError(Exception):
    """Base class of every error the platform raises on purpose."""


class ConfigError(PathReasonerError):
    """params.yaml or a --set override is invalid."""


class SlideReadError(PathReasonerError):
    """A slide cannot be opened or read (truncated, not a slide, unsupported format)."""


class EmptyTissueError(PathReasonerError):
    """A slide has no tissue above the configured threshold."""


class KGSourceError(PathReasonerError):
    """A knowledge-graph source file is missing or malformed."""


class ReportError(PathReasonerError):
    """A pathology report is empty, garbled, or has no diagnosis."""


class LLMError(PathReasonerError):
    """An OpenAI-compatible LLM endpoint failed or answered unusably for one request."""


class DatasetError(PathReasonerError):
    """A samples dataset is missing, empty, or does not follow the data contract."""


class ModelError(PathReasonerError):
    """A base model or checkpoint cannot be built or loaded."""


class TrainingError(PathReasonerError):
    """A training stage cannot run with the given data or settings."""


class RegistryError(PathReasonerError):
    """An MLflow tracking/registry operation failed (missing model, alias, or metric)."""


class ServingError(PathReasonerError):
    """The served model cannot be loaded."""


class RequestError(PathReasonerError):
    """A serving request is malformed; answered with HTTP 400 and a JSON body."""
