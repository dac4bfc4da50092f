"""The one exception the library raises for user mistakes."""


class RnnInitError(Exception):
    """A mistake in the user's input (config, override, file, CLI argument).

    The message is one line: which file, which key, what was given, what is allowed.
    Only the CLI turns it into stderr output and exit code 2.
    """
