"""The few HTML pages of the API, written here so they work offline (no script, no CDN).

The landing page for browsers lists the collections; the map page replaces it later, so
it is one function on its own. The API page renders the OpenAPI document as plain HTML,
where FastAPI's /docs would load Swagger UI from the internet.
"""

from __future__ import annotations

from html import escape
from typing import Any

from layers.catalogue import Catalogue

_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; line-height: 1.5 }
table { border-collapse: collapse; width: 100% } td, th { border-bottom: 1px solid #ddd;
       padding: .3rem .5rem; text-align: left; vertical-align: top }
code { background: #f4f4f4; padding: 0 .2rem } .muted { color: #666 }
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def landing_html(title: str, description: str, catalogue: Catalogue, base_url: str) -> str:
    """The landing page for people: the collections with links to their features."""
    rows = []
    for layer in catalogue:
        href = f"{base_url}/collections/{escape(layer.name)}"
        count = "" if layer.row_count is None else f"{layer.row_count:,}"
        rows.append(
            f"<tr><td><a href=\"{href}\">{escape(layer.title)}</a><br>"
            f"<span class=\"muted\">{escape(layer.title_en)} · <code>{escape(layer.name)}</code>"
            f"</span></td><td>{count}</td>"
            f"<td><a href=\"{href}/items?f=json\">GeoJSON</a> · "
            f"<a href=\"{href}/items?f=csv&amp;limit=1000\">CSV</a></td></tr>")
    body = (
        f"<h1>{escape(title)}</h1><p>{escape(description)}</p>"
        f"<table><thead><tr><th>图层 · Layer</th><th>要素 · Features</th><th>下载 · Data</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<p class=\"muted\">OGC API - Features: <a href=\"{base_url}/?f=json\">landing page "
        f"(JSON)</a> · <a href=\"{base_url}/conformance\">conformance</a> · "
        f"<a href=\"{base_url}/api\">API (OpenAPI 3.0)</a> · "
        f"<a href=\"{base_url}/api.html\">API documentation</a>. "
        f"QGIS: 图层 → 添加 WFS / OGC API - Features 图层, URL <code>{escape(base_url)}</code></p>")
    return _page(title, body)


def _parameter_row(parameter: dict[str, Any], components: dict[str, Any]) -> str:
    if "$ref" in parameter:
        parameter = components.get(parameter["$ref"].rsplit("/", 1)[-1], {})
    schema = parameter.get("schema", {})
    kind = schema.get("type", "")
    if "enum" in schema:
        kind += ": " + ", ".join(str(v) for v in schema["enum"])
    return (f"<tr><td><code>{escape(str(parameter.get('name', '')))}</code></td>"
            f"<td>{escape(str(parameter.get('in', '')))}</td><td>{escape(kind)}</td>"
            f"<td>{escape(str(parameter.get('description', '')))}</td></tr>")


def api_html(document: dict[str, Any]) -> str:
    """The OpenAPI document as a readable page: each path, its operations and parameters."""
    info = document.get("info", {})
    components = document.get("components", {}).get("parameters", {})
    sections = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = "".join(_parameter_row(p, components)
                                 for p in operation.get("parameters", []))
            table = (f"<table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>"
                     f"{parameters}</table>" if parameters else "")
            statuses = ", ".join(operation.get("responses", {}))
            sections.append(
                f"<h3><code>{escape(method.upper())} {escape(path)}</code></h3>"
                f"<p>{escape(operation.get('summary', ''))}</p>"
                f"<p class=\"muted\">{escape(operation.get('description', ''))}</p>{table}"
                f"<p class=\"muted\">responses: {escape(statuses)}</p>")
    body = (f"<h1>{escape(info.get('title', 'API'))}</h1>"
            f"<p>{escape(info.get('description', ''))}</p>"
            f"<p class=\"muted\">OpenAPI {escape(document.get('openapi', ''))} · version "
            f"{escape(info.get('version', ''))} · <a href=\"api\">JSON</a></p>{''.join(sections)}")
    return _page(info.get("title", "API"), body)
