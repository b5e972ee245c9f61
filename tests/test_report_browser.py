"""The head-reuse report opened in a real headless Chromium, with the network cut off.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it); without it this test fails
rather than skips, so CI can never pass without having rendered the page.
"""

import base64
import shutil
from pathlib import Path

import pytest

from interp.head_overlap import analyze

CHROMIUM = Path("/usr/bin/chromium")

PIXEL_STATISTICS = """async (png) => {
    const image = new Image();
    image.src = "data:image/png;base64," + png;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, image.width, image.height).data;
    let sum = 0, squares = 0;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
        const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
        sum += grey;
        squares += grey * grey;
        colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    const n = data.length / 4;
    return {variance: squares / n - (sum / n) ** 2, colours: colours.size, width: image.width};
}"""


@pytest.fixture(scope="module")
def report(trained_run, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("browser") / "tiny"
    shutil.copytree(trained_run, run)
    analyze(run, count=8, lengths=[3, 5], progress=False)
    return run / "analysis" / "report.html"


@pytest.mark.slow
def test_report_renders_its_heatmaps_offline_in_chromium(report):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    expected_figures = report.read_text().count("Plotly.newPlot")
    requests, blocked = [], []

    def offline(route):
        requests.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", offline)
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(report.as_uri())
            page.wait_for_selector("svg.main-svg")
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length == {expected_figures}")
            figures = page.locator(".js-plotly-plot")
            for index in range(expected_figures):
                plot = figures.nth(index)
                assert plot.locator("svg.main-svg").count() >= 1
                assert plot.locator("g.hm image").count() >= 1, f"figure {index} drew no heatmap"
            first = figures.first
            assert "Mean ablation" in first.inner_text()
            shot = first.screenshot()
            statistics = page.evaluate(PIXEL_STATISTICS, base64.b64encode(shot).decode())
        finally:
            browser.close()
    assert requests and not blocked, f"the report asked the network for {blocked}"
    assert not errors, errors
    assert statistics["width"] > 300 and statistics["variance"] > 100 and statistics["colours"] > 20, statistics
