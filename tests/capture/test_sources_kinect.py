"""The optional Kinect backends: asking for one without its package names exactly what to install."""
from __future__ import annotations

import sys

import pytest

from capture.sources import SourceError, open_source


@pytest.mark.parametrize("spec, module, hint", [
    ("kinect:azure", "pyk4a", "pip install pyk4a==1.5.0"),
    ("kinect:azure:/tmp/take.mkv", "pyk4a", "Azure Kinect Sensor SDK"),
    ("kinect:openni", "openni", "pip install openni==2.3.0"),
    ("kinect:freenect", "freenect", "pip install freenect==0.1.0"),
])
def test_missing_package_names_what_to_install(monkeypatch, spec, module, hint):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail even where it is installed
    with pytest.raises(SourceError, match=f"'{module}' package is not installed.*{hint}"):
        open_source(spec)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(SourceError, match="kinect:azure, kinect:openni, kinect:freenect"):
        open_source("kinect:v2")
