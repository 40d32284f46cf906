"""Screenshots of `make ui`'s pages in headless Chromium, for docs/ui.md.

    python tools/ui_screenshots.py --url http://127.0.0.1:8090 --model fire-ensemble --out docs

Writes ui-home.png (the home page) and ui-model.png (the model's page) into --out. Needs Debian's
chromium and chromium-driver (apt-get install chromium chromium-driver) and selenium
(requirements-dev.txt); the browser runs with no network beyond the page's own server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import chromium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8090", help="where make ui listens")
    parser.add_argument("--model", default="fire-ensemble", help="the model whose page to shoot")
    parser.add_argument("--out", default="docs", type=Path, help="the folder the PNGs go to")
    parser.add_argument("--width", type=int, default=1200)
    args = parser.parse_args()
    if not chromium.found():
        raise SystemExit(f"error: no chromium/chromedriver; {chromium.INSTALL}")
    driver = chromium.driver("--hide-scrollbars")
    try:
        for name, path in (("ui-home.png", "/"), ("ui-model.png", f"/models/{args.model}")):
            driver.set_window_size(args.width, 800)
            driver.get(args.url.rstrip("/") + path)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(args.width, min(int(height) + 20, 1600))
            args.out.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out / name))
            print(f"ui_screenshots: {args.out / name}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
