"""asterisk-pipeline: Asterisk PBX call logs → central call records, orchestrated by Dagster."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("asterisk-pipeline")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"
