"""Issue 40: `make ui`, the registry in a browser. Against the loopback S3 server with three
published fire versions, an alias moved twice and one filed monitor report: the pages in a real
headless Chromium (home -> model -> version -> compare -> drift -> try it), checked against
`make models --json`, with no console errors and a REASON with markup shown as text; and over
plain HTTP, a missing model or version (404), a metadata.json edited into invalid JSON and a bucket
that does not exist (502), each a page of one sentence while the other pages keep working."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, SRC, copy_project, dvc, git
from serving import UI

sys.path.insert(0, str(REPO / "tools"))
import chromium  # noqa: E402  (tools/chromium.py: the browser the screenshots use too)

from modelmill import lines
from modelmill.core import s3
from modelmill.monitor.capture import Capture
from modelmill.registry.aliases import promote
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.fetch import download_version
from modelmill.registry.publish import publish
from modelmill.registry.store import Registry

pytestmark = pytest.mark.e2e

MODEL = "fire-ensemble"
REASON = "<script>document.title='owned'</script> & <b>bold</b>"
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True
    )
    assert not check or result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def registry(fire_project, registry_env, tmp_path_factory):
    """Three fire versions (the ensemble's temperature changed between them), production moved
    v1 -> v2 with a REASON holding markup, and one drift report filed for v2 by the monitor's
    command. Returns the workspace and what `make models MODEL=fire-ensemble JSON=1` prints."""
    repo = copy_project(fire_project, tmp_path_factory.mktemp("ui") / "project")
    fire = lines.get("fire")
    reg = Registry.for_line(fire, repo)
    client = s3.client(reg.region)
    ensure_private_bucket(client, reg)
    publish(reg, repo, line=fire)
    for temperature in ("0.01", "0.05"):
        setting = f"pipelines/fire/params.yaml:ensemble.temperature={temperature}"
        dvc(repo, "exp", "run", "pipelines/fire/dvc.yaml", "-S", setting)
        git(repo, "commit", "-q", "-am", f"temperature {temperature}")
        publish(reg, repo, line=fire)
    promote(client, reg, "v1", "production", REASON)
    promote(client, reg, "v2", "production", "rollout")
    captured(repo / "capture", reg, fire, repo / "pipelines/fire")
    monitor = ("-m", "modelmill.monitor", "--model", MODEL, "--version", "v2")
    run(repo, *monitor, "--capture", str(repo / "capture"), "--out", str(repo / "monitor"))
    listed = json.loads(run(repo, "-m", "modelmill.registry.models", "--model", MODEL, "--json").stdout)
    return repo, listed


def captured(dest: Path, reg: Registry, line, folder: Path) -> None:
    """What a server capturing every request to v2 writes for the test split's rows."""
    model = line.model()
    with tempfile.TemporaryDirectory() as tmp:
        meta, path = download_version(reg, tmp, "v2", line=line)
        predictor = model.predictor().load(path, meta)
    x = model.modules.baseline().reference_inputs(folder, model.key)
    s = predictor.summaries
    with Capture(
        dest, 1.0, reg.model_name, meta["version"], line.name, summarise=s.inputs, summarise_answers=s.answers
    ) as capture:
        capture.record_batch(x, predictor.predict(x))


@pytest.fixture(scope="module")
def ui(registry):
    server = UI(registry[0])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not chromium.found():
        message = f"no chromium/chromedriver: {chromium.INSTALL} (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    driver = chromium.driver("--window-size=1280,900", console=True)
    yield driver
    driver.quit()


def follow(driver, element, by: str, value: str):
    """Click what navigates and return `value` on the page it leads to. A click returns before the
    next page is in (a form's answer takes a prediction), so wait for the old page to go and the
    new one to load first."""
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    element.click()
    wait = WebDriverWait(driver, 60)
    wait.until(seen.staleness_of(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    found = driver.find_elements(by, value)
    assert found, f"no {value} on {driver.current_url}: {driver.find_element('tag name', 'body').text[:1000]}"
    return found[0]


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_pages_in_a_real_browser(ui, registry, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, listed = registry
    driver = browser
    driver.get(ui.url + "/")
    card = driver.find_element(By.CSS_SELECTOR, f'.model-card[data-model="{MODEL}"]')
    production = card.find_element(By.CSS_SELECTOR, 'tr.pointer[data-name="production"]')
    assert "v2" in production.text and "no drift" in card.find_element(By.CLASS_NAME, "drift-state").text

    follow(driver, card.find_element(By.LINK_TEXT, MODEL), By.ID, "versions")
    rows = driver.find_elements(By.CSS_SELECTOR, "#versions tr[data-version]")
    assert sorted(row.get_attribute("data-version") for row in rows) == [f"v{v['version']}" for v in listed["versions"]]
    assert driver.find_element(By.CSS_SELECTOR, '.alias[data-alias="production"]').text.endswith("v2")
    assert driver.find_element(By.CSS_SELECTOR, "svg.chart")
    moves = driver.find_elements(By.CSS_SELECTOR, 'table.history[data-alias="production"] tr[data-seq]')
    assert len(moves) == len(listed["history"]["production"]) == 2
    assert moves[0].find_element(By.CLASS_NAME, "reason").text == REASON  # markup shown as text, not run
    assert driver.title != "owned" and not driver.find_elements(By.CSS_SELECTOR, ".reason script, .reason b")

    assert follow(driver, driver.find_element(By.LINK_TEXT, "v3"), By.ID, "version-name").text == "v3"
    metrics = driver.find_element(By.ID, "metrics").text
    published = next(v for v in listed["versions"] if v["version"] == 3)
    for name, value in published["metrics"].items():
        assert name in metrics and f"{value}"[:5] in metrics
    assert "ensemble.temperature" in driver.find_element(By.ID, "params").text
    assert driver.find_element(By.ID, "baseline").text.count("co2_ppm") == 1

    driver.get(f"{ui.url}/models/{MODEL}/compare?a=production&b=v3")
    params = driver.find_element(By.ID, "diff-params").text
    assert "ensemble.temperature" in params and "0.01" in params and "0.05" in params

    driver.get(f"{ui.url}/models/{MODEL}/drift")
    report = driver.find_elements(By.CSS_SELECTOR, "section.report")
    assert len(report) == 1 and "v2" in report[0].text and "no drift" in report[0].text
    assert report[0].find_elements(By.CSS_SELECTOR, 'tr[data-feature="co2_ppm"]')
    image = report[0].find_element(By.TAG_NAME, "img")
    assert driver.execute_script("return arguments[0].naturalWidth", image) > 0  # the report's figure loaded

    driver.get(f"{ui.url}/models/{MODEL}/try?version=v2")
    Select(driver.find_element(By.NAME, "example")).select_by_visible_text("fire_rows.csv")
    answers = json.loads(follow(driver, driver.find_element(By.ID, "send-example"), By.ID, "answer").text)
    assert len(answers) == 10 and all(0 <= a["fire_probability"] <= 1 for a in answers)
    assert console_errors(driver) == []


def test_what_is_not_there_is_a_404_page(ui):
    for path, words in (
        (f"/models/{MODEL}/versions/v99", "fire-ensemble has no version v99"),
        (f"/models/{MODEL}/versions/canary", "has no alias 'canary'"),
        ("/models/no-such-model", "no model named no-such-model"),
        ("/nowhere", "there is no page at /nowhere"),
    ):
        status, page = ui.get(path)
        assert status == 404 and words in html.unescape(page) and "Traceback" not in page, (path, page[:2000])


def test_an_edited_metadata_json_is_a_502_page_and_the_rest_still_works(ui, registry, registry_env):
    client, bucket = s3.client(), registry_env["BUCKET_NAME"]
    key = f"models/{MODEL}/v1/metadata.json"
    original = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.put_object(Bucket=bucket, Key=key, Body=b"{not json")
    try:
        fresh = UI(registry[0])  # a fresh server: the running one read v1 before, and versions never change
        try:
            status, page = fresh.get(f"/models/{MODEL}/versions/v1")
            assert status == 502 and "is not a JSON object" in page and "Traceback" not in page, page[:2000]
            assert fresh.get(f"/models/{MODEL}/versions/v2")[0] == 200
            status, page = fresh.get(f"/models/{MODEL}")
            assert status == 200 and "metadata.json unreadable" in page
            assert fresh.get("/")[0] == 200
        finally:
            fresh.stop()
    finally:
        client.put_object(Bucket=bucket, Key=key, Body=original)


def test_a_bucket_that_does_not_exist_is_a_502_page(registry):
    server = UI(registry[0], {"BUCKET_NAME": "no-such-bucket-here"})
    try:
        status, page = server.get("/")
        assert status == 502 and "does not exist" in page and "Traceback" not in page, page[:2000]
        assert server.get("/static/style.css")[0] == 200
    finally:
        server.stop()
