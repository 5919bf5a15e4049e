"""A scoring script whose init() fails, as when the model file is missing."""


def load_model():
    """Pretend to load a model that is not there."""
    raise FileNotFoundError("model.pkl is missing from the model folder")


def init():
    """Fail."""
    load_model()


def run(raw_data):
    """Never reached."""
    return raw_data
