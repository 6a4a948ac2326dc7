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
  itself, a 256-colour PNG (where quantising keeps its colours) and a JPEG (quality 70);
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


# A 256-colour PNG is a candidate only where it keeps the colours: a smooth colour map (a colour bar, a
# diverging map) quantised to 256 colours shows bands of the wrong hue.
QUANTIZE_MAX_MOVED = 0.001  # share of pixels allowed to move ...
QUANTIZE_MOVE = 12  # ... by more than this many levels (of 255) in a channel


def _faithful(rgb, quantized) -> bool:
    import numpy as np

    moved = np.abs(np.asarray(rgb, dtype=np.int16) - np.asarray(quantized.convert("RGB"), dtype=np.int16)).max(-1)
    return float((moved > QUANTIZE_MOVE).mean()) <= QUANTIZE_MAX_MOVED


def _smaller_encoding(png: bytes) -> tuple[str, bytes]:
    """(mime subtype, bytes): the smallest of the PNG as it is, a faithful 256-colour PNG and a JPEG.

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
    encodings = [("jpeg", rgb, {"quality": JPEG_QUALITY, "optimize": True})]
    quantized = rgb.quantize(256)
    if _faithful(rgb, quantized):
        encodings.append(("png", quantized, {"optimize": True}))
    for kind, picture, options in encodings:
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


# css-loader leaves each style sheet's source map in the widget bundle as a JS object literal, the 4th item
# of its ``[id, css, media, sourceMap]`` entry (317 kB of 1.87 MB in html-manager 1.0.15). A page never
# reads them: css-loader adds a map only to a sheet whose entry has one, so an empty string drops it.
_SOURCE_MAP = re.compile(r"\{version:3,sources:\[")
_MAP_COMMENT = re.compile(r"\n//# sourceMappingURL=\S+\s*$")


def _literal_end(js: str, start: int) -> int:
    """The index after the object literal opening at ``start``: braces counted outside strings."""
    depth, i, quote = 0, start, None
    while i < len(js):
        ch = js[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unterminated object literal at {start}")


def strip_source_maps(js: str) -> str:
    """The widget bundle without its embedded CSS source maps and its source-map comment."""
    pieces, last = [], 0
    for match in _SOURCE_MAP.finditer(js):
        if match.start() < last:
            continue
        pieces += [js[last : match.start()], '""']
        last = _literal_end(js, match.start())
    pieces.append(js[last:])
    return _MAP_COMMENT.sub("\n", "".join(pieces))


if __name__ == "__main__":
    import sys

    from fep.atomic import atomic_write

    if len(sys.argv) != 3 or sys.argv[1] != "--strip-bundle":
        sys.exit("usage: python benchmarks/_offline.py --strip-bundle PATH_TO_EMBED_JS")
    bundle = Path(sys.argv[2])
    before = bundle.read_text(encoding="utf-8")
    after = strip_source_maps(before)
    atomic_write(bundle, lambda f: f.write(after.encode()))
    print(f"{bundle}: {len(before) / 1e6:.2f} MB → {len(after) / 1e6:.2f} MB without its source maps")
