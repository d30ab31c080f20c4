"""The one exception the template builder raises for failures."""


class TemplateBuildError(Exception):
    """A template could not be built; the message is one clear line."""
