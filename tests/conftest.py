"""Fixtures shared by the core, CLI and UI tests: the demo PACS and our local AE."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

# Headless everywhere: the window tests build real widgets offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync

from qrscope.core.engine.choice import current as current_engine
from qrscope.demo_pacs import build_sample_studies
from tests.demo_site import DemoSite, start_demo_site


def pytest_report_header() -> str:
    return f"qrscope engine: {current_engine().describe()}"


# The window's tests that also run on stock pynetdicom: a whole day in the
# window against the demo PACS (find, retrieve by C-MOVE and C-GET, the jobs),
# the listener it starts and the senders it shows, and the Qt runtime. The
# other window tests check widgets, models and words over the same core calls,
# which the core, command-line and interoperability tests run on both engines
# (and tests/interop/test_window_against_orthanc.py runs the window on both):
# running them twice would test the same widgets twice, for 5 minutes of CI.
WINDOW_TESTS_ON_STOCK = ("test_window_demo.py", "test_window_listener.py",
                         "test_window_senders.py", "test_qt_runtime.py")
_UI_TESTS = Path(__file__).parent / "ui"
# Tests that run no engine at all: the layering check reads the source, whichever
# engine is chosen (2.7 s a pass). Pure-logic modules elsewhere (the pace, the
# vocabulary) cost well under a second each on stock and stay there: each entry
# here is a test the stock pass no longer runs, so only what cannot touch the
# network engine belongs in it.
ENGINE_FREE_TESTS = (Path(__file__).parent / "test_architecture.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The stock pass is there so that the stock pynetdicom path always works: it runs
    every test that goes through the network engine. Tests of a piece of the tuned
    engine itself have nothing to test on stock pynetdicom, tests that choose their
    engines themselves need not run once per engine, most window tests test widgets
    that do not depend on the engine, and tests that touch no engine at all
    (ENGINE_FREE_TESTS) would run the same code twice (see above)."""
    if current_engine().tuned:
        return
    skip = pytest.mark.skip(reason="tests a piece of the tuned engine; stock pynetdicom runs")
    own = pytest.mark.skip(reason="chooses its engines itself: run in the tuned pass")
    window = pytest.mark.skip(reason="widgets over the same core calls: run in the tuned "
                                     "pass (tests/conftest.py: WINDOW_TESTS_ON_STOCK)")
    engine_free = pytest.mark.skip(reason="touches no engine: run in the tuned pass "
                                          "(tests/conftest.py: ENGINE_FREE_TESTS)")
    for item in items:
        path = Path(str(item.fspath))
        if item.get_closest_marker("tuned_engine") is not None:
            item.add_marker(skip)
        elif item.get_closest_marker("own_engines") is not None:
            item.add_marker(own)
        elif path.parent == _UI_TESTS and path.name not in WINDOW_TESTS_ON_STOCK:
            item.add_marker(window)
        elif path in ENGINE_FREE_TESTS:
            item.add_marker(engine_free)


@pytest.fixture(scope="session")
def sample_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    build_sample_studies(folder)
    return folder


@pytest.fixture
def demo(sample_folder: Path, tmp_path: Path) -> Iterator[DemoSite]:
    site = start_demo_site(sample_folder, tmp_path / "received")
    yield site
    site.pacs.stop()


@pytest.fixture
def qt_loop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()  # now, while its Qt objects exist; at exit they are gone


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 256 KiB filesystem, so 'disk full' is the kernel's answer, not a mock."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                   check=True)
    yield mount_point
    from qrscope.core.archive.index import close_index

    close_index(mount_point)  # the archive index, open like any database, lets go first
    subprocess.run(["umount", str(mount_point)], check=True)


# -- the window tests' screen ------------------------------------------------------------
# The window tests run on Qt's offscreen platform, whose one screen is 800x800
# unless a configuration file says otherwise: its plugin reads the screens from
# the JSON file named by ``-platform offscreen:configfile=FILE`` (Qt 6,
# qoffscreenintegration.cpp). Its screen here is the smallest the window is
# made for, 1024x768, so every test sees what a user of such a screen sees
# without resizing the window itself. Here, not in tests/ui: the first test of
# the session that makes the application (the interop window tests run first)
# decides its platform for all.
SCREEN = (1024, 768)


@pytest.fixture(scope="session")
def qapp_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Offscreen: the screen above; another platform (Xvfb, a desktop): its own."""
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        return ["qrscope-tests"]
    width, height = SCREEN
    screen = {"name": "tests", "x": 0, "y": 0, "width": width, "height": height,
              "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    config = tmp_path_factory.mktemp("qt") / "screens.json"
    # Xvfb without a window manager: no frame around the window.
    config.write_text(json.dumps({"screens": [screen], "windowFrameMargins": False}),
                      encoding="utf-8")
    return ["qrscope-tests", "-platform", f"offscreen:configfile={config}"]


@pytest.fixture(scope="module")
def batch_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch studies of :mod:`tests.batch_studies`, as many as the module's ``STUDIES``
    (6 where it names none), written once per module."""
    from tests.batch_studies import write_batch_studies

    folder = tmp_path_factory.mktemp("batch-studies")
    write_batch_studies(folder, getattr(request.module, "STUDIES", 6))
    return folder


@pytest.fixture
def site(batch_folder: Path, tmp_path: Path) -> Iterator[DemoSite]:
    """The batch tests' demo PACS in this process, serving :func:`batch_folder`, and our
    local AE (a module may define its own `site`)."""
    site = start_demo_site(batch_folder, tmp_path / "received")
    yield site
    site.pacs.stop()
