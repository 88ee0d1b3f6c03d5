"""acnbuild: the hermetic image build for the container-networking monorepo.

The package lives in ``build/acnbuild`` rather than as a top-level ``build`` package so that it never
shadows PyPI's ``build`` (pypa) in an environment that has both.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
