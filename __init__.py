"""wmnet: a Bittensor subnet that sells world-model compute.

The repository's top-level folders are this package's subpackages (``wmnet.localnet``,
``wmnet.worldmodel``, ...); see ``[tool.setuptools.package-dir]`` in pyproject.toml.
"""

__version__ = "0.1.0"
