"""Load every collection in QGIS (OGC API - Features provider) and render one: a manual check.

Not part of the pytest suite (the file name keeps pytest away): it needs QGIS and its
Python bindings (Debian 12: `apt-get install -y qgis python3-qgis`, QGIS 3.22) and runs
with the system Python, without a display:

    QT_QPA_PLATFORM=offscreen python3 tests/clients/qgis_check.py [--url URL] [--png FILE]

Without --url it starts `onemap serve` (the project's virtual environment, its database:
ONEMAP_DATABASE_URL or the embedded cluster) on a free loopback port and stops it at the
end. For every collection it prints whether QGIS finds the layer valid, its geometry type,
its feature count and the number of features QGIS actually reads, then renders
`--render` layers to a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ONEMAP = ROOT / ".venv" / "bin" / "onemap"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service() -> tuple[subprocess.Popen, str]:
    """`onemap serve` on a free port; returns the process and its base URL once it answers."""
    port = free_port()
    # a check only reads: no timed grading in the database it looks at
    environment = {**os.environ, "ONEMAP_GRADING_INTERVAL_SECONDS": "0"}
    process = subprocess.Popen([str(ONEMAP), "serve", "--port", str(port)], cwd=ROOT,
                               env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the service did not start")


def collections(url: str) -> list[str]:
    request = urllib.request.Request(f"{url}/collections", headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return [c["id"] for c in json.load(answer)["collections"]]


def check_layers(url: str, names: list[str], args_fields: bool = False) -> dict:
    """Load each collection as a QGIS layer and report what QGIS sees."""
    from qgis.core import QgsVectorLayer, QgsWkbTypes

    layers = {}
    print(f"{'collection':22} {'valid':5} {'geometry':16} {'count':>7} {'read':>7} "
          f"{'fields':>6}  seconds")
    for name in names:
        started = time.monotonic()
        layer = QgsVectorLayer(f"url='{url}' typename='{name}'", name, "OAPIF")
        valid = layer.isValid()
        geometry = QgsWkbTypes.displayString(layer.wkbType()) if valid else "-"
        count = layer.featureCount() if valid else -1
        read = sum(1 for _ in layer.getFeatures()) if valid else -1
        fields = len(layer.fields()) if valid else 0
        print(f"{name:22} {valid!s:5} {geometry:16} {count:>7} {read:>7} {fields:>6}  "
              f"{time.monotonic() - started:.1f}")
        if not valid:
            print(f"    error: {layer.error().summary()}")
        elif args_fields:
            print("    " + ", ".join(f"{f.name()}:{f.typeName()}" for f in layer.fields()))
        layers[name] = layer
    return layers


def render(layers: list, png: Path, size: int = 1200) -> None:
    """Draw `layers` (first on top) over their joint extent into `png`."""
    from qgis.core import (
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsRectangle,
        QgsWkbTypes,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    for layer in layers:
        if layer.geometryType() == QgsWkbTypes.PolygonGeometry and layer is layers[-1]:
            layer.renderer().symbol().setColor(QColor(0, 0, 0, 0))  # the bottom one: outline only
    extent = QgsRectangle(layers[-1].extent())
    for layer in layers[:-1]:
        extent.combineExtentWith(layer.extent())
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[-1].crs())
    settings.setExtent(extent.buffered(extent.width() * 0.02))
    settings.setOutputSize(QSize(size, int(size * extent.height() / max(extent.width(), 1e-9))))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(png), "PNG")
    print(f"rendered {', '.join(layer.name() for layer in layers)} to {png}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running service (default: start one)")
    parser.add_argument("--png", type=Path, default=Path(tempfile.gettempdir()) / "onemap_qgis.png")
    parser.add_argument("--fields", action="store_true", help="print each layer's field types")
    parser.add_argument("--render",
                        default="risk_units_point,risk_units_line,risk_units_polygon,districts",
                        help="comma list of the collections to draw, top first")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from qgis.core import Qgis, QgsApplication

    process = None
    url = args.url
    if url is None:
        process, url = start_service()
    app = QgsApplication([], False)
    app.initQgis()
    try:
        print(f"QGIS {Qgis.QGIS_VERSION}, service {url}")
        layers = check_layers(url, collections(url), args.fields)
        render([layers[n] for n in args.render.split(",") if n in layers], args.png)
        return 0 if all(layer.isValid() for layer in layers.values()) else 1
    finally:
        app.exitQgis()
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
