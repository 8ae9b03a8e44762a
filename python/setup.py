"""Builds the shared library with python/build.sh (swift build) before packaging it.

pip install ./python        # needs a Swift toolchain; builds libFlashMLASwiftC.so first
FLASHMLA_SWIFT_SKIP_BUILD=1 pip install --no-build-isolation ./python
                            # packages the .so already in python/flashmla_swift/
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY = os.path.join(HERE, "flashmla_swift", "libFlashMLASwiftC.so")


class BuildSwiftLibrary(build_py):
    def run(self):
        if os.environ.get("FLASHMLA_SWIFT_SKIP_BUILD") != "1":
            if shutil.which("swift") is None:
                if not os.path.exists(LIBRARY):
                    raise RuntimeError("flashmla_swift: building needs a Swift toolchain (swift on PATH), "
                                       "or a prebuilt " + LIBRARY + " with FLASHMLA_SWIFT_SKIP_BUILD=1")
            else:
                subprocess.check_call(["bash", os.path.join(HERE, "build.sh")])
        if not os.path.exists(LIBRARY):
            raise RuntimeError("flashmla_swift: " + LIBRARY + " is missing; run python/build.sh")
        super().run()


class PlatformWheel(bdist_wheel):
    """The wheel holds a Linux shared library but no CPython extension: py3-none-<platform>."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(cmdclass={"build_py": BuildSwiftLibrary, "bdist_wheel": PlatformWheel})
