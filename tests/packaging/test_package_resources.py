"""What the installed program reads beside its code is package data, and agrees with itself."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET

import qrscope
from qrscope.ui.resources import icon_path

_RESOURCES = icon_path("qrscope.svg").parent
_METAINFO = _RESOURCES / "io.github.qrscope.qrscope.metainfo.xml"


def test_window_icon_is_inside_the_package():
    icon = icon_path("qrscope.svg")
    assert icon.is_file()
    assert icon.parent.parent.samefile(qrscope.__path__[0])


def test_desktop_entry_starts_the_window_with_the_packaged_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(_RESOURCES / "qrscope.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"] == "qrscope gui"
    assert (_RESOURCES / f"{desktop['Icon']}.svg").is_file()


def test_metainfo_names_the_desktop_entry_and_the_current_version():
    component = ET.parse(_METAINFO).getroot()
    assert component.findtext("launchable") == "qrscope.desktop"
    newest = component.find("releases/release")
    assert newest is not None and newest.get("version") == qrscope.__version__
