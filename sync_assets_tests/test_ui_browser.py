"""The Dagster UI in a real browser (issue: trust): `dagster dev` serves the demo after a few
of its objects were materialized, and headless Chromium (the Debian package, driven by
Playwright) checks that each page a user relies on shows its content: the lineage graph, an
asset's partitions, its materialization metadata (row counts, watermark, column schema), its
checks, and the schedules and sensors. Every page is saved as a screenshot under the artifacts folder
($SYNC_ASSETS_ARTIFACTS, default test-artifacts/ in the project); a JavaScript error on any
page, or a page that never shows its content, fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sync_assets_tests.harness import stop_dagster
from sync_assets_tests.pg_server import free_port

PROJECT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SYNC_ASSETS_ARTIFACTS", PROJECT / "test-artifacts")) / "ui"
# what the demo's runs materialize before the browser looks (one partitioned object)
MATERIALIZED = [
    ["--select", "warehouse/dim/customers,warehouse/sales/orders"],
    ["--select", "bronze/sales/orders_daily", "--partition", "2025-01-02"],
]


def _dagster(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dagster"), *args]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """The demo served by `dagster dev` on a free port, with its own instance and data."""
    from sync_assets.demo import ensure_demo_source

    root = tmp_path_factory.mktemp("ui")
    home = root / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SYNC_ASSETS_DATA": str(root / "data")}
    env.pop("SYNC_ASSETS_CONFIGS", None)  # the demo's own configs/
    ensure_demo_source(root / "data" / "demo_source.duckdb")
    for selection in MATERIALIZED:
        cmd = _dagster("asset", "materialize", "-m", "sync_assets.definitions", *selection)
        done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    port = free_port()
    cmd = _dagster("dev", "-m", "sync_assets.definitions", "-h", "127.0.0.1", "-p", str(port))
    log = open(root / "dagster_dev.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(base, server, root / "dagster_dev.log")
        yield base
    finally:
        stop_dagster(server)
        log.close()


def _wait_until_serving(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"dagster dev did not serve within 180 s:\n{log.read_text()[-3000:]}")


# (screenshot name, path, texts the page must show once loaded)
PAGES = [
    # the demo group's lineage (the global view folds groups once there are two)
    (
        "lineage",
        "/locations/sync_assets.definitions/asset-groups/demo",
        ["customers_history", "orders_daily", "orders_by_day"],
    ),
    (
        "asset_lineage",
        "/assets/warehouse/dim/customers?view=lineage",
        ["Upstream", "Downstream", "3 / 3 Passed"],
    ),
    (
        "partitions",
        "/assets/bronze/sales/orders_daily?view=partitions",
        ["120 Partitions Selected", "Materialized (1)", "Missing (119)"],
    ),
    (
        "metadata",
        "/assets/warehouse/sales/orders?view=events",
        ["sync/rows_inserted", "sync/rows_read", "120000", "sync/watermark", "dagster/row_count"],
    ),
    (
        "column_schema",
        "/assets/warehouse/sales/orders",
        ["Columns", "order_id", "BIGINT", "DECIMAL(12,2)", "Arrow type: decimal128(12, 2)"],
    ),
    ("checks", "/assets/warehouse/dim/customers?view=checks", ["row_count", "checksum", "Passed"]),
    (
        "automation",
        "/automation",
        [
            "sync_customers_to_lakehouse_schedule",
            "sync_orders_to_warehouse_on_change",
            "sync_orders_lakehouse_to_warehouse_automation",
            "Every 15 minutes",  # the loaded schedule rows (not their placeholders)
        ],
    ),
]


def test_the_ui_shows_lineage_partitions_metadata_checks_and_schedules(ui):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "apt-get install chromium (scripts/test.sh does)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on(
            "console",
            lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None,
        )
        try:
            for name, path, texts in PAGES:
                _check_page(page, ui + path, name, texts)
        finally:
            browser.close()
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)


def _check_page(page, url: str, name: str, texts: list[str]) -> None:
    page.goto(url)
    try:
        for text in texts:
            page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
        _skip_welcome(page)
    finally:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    body = page.inner_text("body")
    assert len(body) > 200, f"{name}: the page is nearly empty: {body!r}"


def _skip_welcome(page) -> None:
    """Close the first-visit newsletter dialog, so the screenshots show the page."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
        page.wait_for_timeout(300)
