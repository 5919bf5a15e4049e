"""A scoring script without run()."""


def init():
    """Nothing to set up."""
