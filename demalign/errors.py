"""One exception family. `demalign.run` prints these without a traceback and exits non-zero;
any other exception is a bug and keeps its traceback."""


class DemalignError(Exception):
    """A problem with the user's input, config or environment, with a message saying what to do."""


class ConfigError(DemalignError):
    """A config key has a bad value (the message names the key)."""


class DataError(DemalignError):
    """An input file is missing or malformed (the message names the file and line)."""


class InfeasibleQuotasError(DemalignError):
    """No panel can meet the quotas (the message names the conflict and the smallest relaxation)."""


class ArtifactExistsError(DemalignError):
    """A finished run folder would be overwritten."""
