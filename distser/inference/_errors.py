"""Errors of loading a model, apart from the modules that raise them: ``distser predict`` catches them
without importing torch or MLflow before it has work to do."""


class BundleError(ValueError):
    """A bundle file or its contents are not what distser can use; the message names the file."""


class ModelNotFoundError(LookupError):
    """A model URI that names nothing loadable; the message names the URI and what does exist."""
