"""Make a rendered course page work offline and stay small.

nbconvert's lab template loads MathJax, require.js and the widget manager from CDNs and inlines
260 kB of JupyterLab CSS into every page. :func:`make_offline` rewrites one page so that:

- maths is MathML, converted once here from the page's ``$…$`` (browsers draw MathML natively, so no
  maths script or font is shipped);
- the widget manager is ``assets/html-manager-embed.js``, the standalone bundle of the npm package
  ``@jupyter-widgets/html-manager`` (see ``docs/course/assets/README.md``), which needs no require.js;
- the template's CSS is one shared file, ``assets/lab-<hash>.css``, written by the first page that
  needs it;
- each embedded picture wider than 800 px is scaled to 800 px, then stored as the smallest of
  itself, a 256-colour PNG and a JPEG (quality 70);
- the shared CSS loses its comments and runs of white space.

Run on an already rendered page it changes nothing more (it is idempotent), so
``python benchmarks/bench_notebooks.py --offline`` can convert pages without running the notebooks.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
from pathlib import Path

ASSETS = "assets"
WIDGET_BUNDLE = f"{ASSETS}/html-manager-embed.js"
JPEG_QUALITY = 70
# Wider pictures are scaled down to this: 800 px keeps a frame grid of 8 frames at 100 px a frame.
MAX_WIDTH = 800

_REQUIRE_JS = re.compile(r'<script src="[^"]*require(\.min)?\.js"></script>\s*')
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->\s*", re.S)
_WIDGET_SRC = re.compile(r"(var widgetRendererSrc = )'[^']*';")
_HEAD_STYLE = re.compile(r'<style type="text/css">(.*?)</style>\s*', re.S)
_DATA_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
_WIDGET_STATE = re.compile(r'(<script type="application/vnd.jupyter.widget-state\+json">)(.*?)(</script>)', re.S)
# Spans where a dollar sign is code or data, not maths.
_PROTECTED = re.compile(r"<(pre|code|script|style|math)\b.*?</\1>", re.S)
_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.S)


def _smaller_encoding(png: bytes) -> tuple[str, bytes]:
    """(mime subtype, bytes): the smallest of the PNG as it is, a 256-colour PNG and a JPEG.

    A picture wider than ``MAX_WIDTH`` is scaled down first, and then the PNG as it was is no candidate.
    """
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    candidates = []
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    else:
        candidates.append(("png", png))
    flat = image.convert("RGBA")
    white = Image.new("RGBA", flat.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, flat).convert("RGB")
    for kind, picture, options in (("png", rgb.quantize(256), {"optimize": True}),
                                   ("jpeg", rgb, {"quality": JPEG_QUALITY, "optimize": True})):
        buffer = io.BytesIO()
        picture.save(buffer, kind.upper(), **options)
        candidates.append((kind, buffer.getvalue()))
    return min(candidates, key=lambda c: len(c[1]))


def _recode_data_uri(match: re.Match) -> str:
    kind, data = _smaller_encoding(base64.b64decode(match.group(1)))
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def _recode_widget_state(match: re.Match) -> str:
    state = json.loads(match.group(2))
    for model in state.get("state", {}).values():
        if model.get("model_name") != "ImageModel" or model["state"].get("format") != "png":
            continue
        for buffer in model.get("buffers", []):
            if buffer.get("encoding") == "base64" and buffer.get("path") == ["value"]:
                kind, data = _smaller_encoding(base64.b64decode(buffer["data"]))
                buffer["data"] = base64.b64encode(data).decode()
                model["state"]["format"] = kind
    return match.group(1) + json.dumps(state, separators=(",", ":")) + match.group(3)


def _mathml(match: re.Match) -> str:
    from latex2mathml.converter import convert

    display, inline = match.group(1), match.group(2)
    tex = html.unescape(display if display is not None else inline).strip()
    return convert(tex, display="block" if display is not None else "inline")


def _render_maths(body: str) -> str:
    pieces, last = [], 0
    for protected in _PROTECTED.finditer(body):
        pieces.append(_MATH.sub(_mathml, body[last : protected.start()]))
        pieces.append(protected.group(0))
        last = protected.end()
    pieces.append(_MATH.sub(_mathml, body[last:]))
    return "".join(pieces)


def _minify_css(css: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return re.sub(r"\s*([{};])\s*", r"\1", re.sub(r"\s+", " ", css)).strip()


def make_offline(page: str, docs: Path) -> str:
    """Return ``page`` rewritten to load nothing from the network; shared CSS is written under ``docs``.

    Args:
        page: a page as nbconvert's lab template writes it (or one this function already rewrote).
        docs: the folder the page lives in; ``docs/assets`` receives the shared stylesheet.

    Returns:
        The rewritten page.
    """
    from fep.atomic import atomic_write

    head, sep, body = page.partition("<body")
    head = _REQUIRE_JS.sub("", head)
    head = _MATHJAX.sub("", head)
    head = _WIDGET_SRC.sub(rf"\1'{WIDGET_BUNDLE}';", head)
    styles = _HEAD_STYLE.findall(head)
    if styles:
        css = _minify_css("\n".join(styles)).encode()
        name = f"{ASSETS}/lab-{hashlib.sha256(css).hexdigest()[:12]}.css"
        target = docs / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, lambda f: f.write(css))
        start = _HEAD_STYLE.search(head).start()
        link = f'<link rel="stylesheet" href="{name}">\n'
        head = head[:start] + link + _HEAD_STYLE.sub("", head[start:])
    body = _render_maths(body)
    body = _DATA_PNG.sub(_recode_data_uri, body)
    body = _WIDGET_STATE.sub(_recode_widget_state, body)
    return head + sep + body
