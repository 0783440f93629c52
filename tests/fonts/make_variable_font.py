#!/usr/bin/env python3
"""Builds ReelVarTest.ttf: a tiny variable font (one `wght` axis, 100-900, default 400)
with named instances Thin, Regular, Bold and Black. Its glyphs are rectangles whose stems and
advances grow with the weight, so a test can tell which weight was used from the shaping
advances and from the ink. Committed output; rerun with `python3 make_variable_font.py`
(needs `pip install fonttools`)."""

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib.tables.TupleVariation import TupleVariation

UPEM = 1000
CAP = 700
SIDE = 60  # side bearing, constant


def stem(weight):
    """Stem width in font units at a weight: 40 at 100, 100 at 400, 250 at 900 (piecewise
    linear, so the variable font reproduces it exactly with two masters)."""
    if weight <= 400:
        return 40 + (weight - 100) * 60 / 300
    return 100 + (weight - 400) * 150 / 500


def rect(pen, x0, y0, x1, y1):
    pen.moveTo((x0, y0))
    pen.lineTo((x0, y1))
    pen.lineTo((x1, y1))
    pen.lineTo((x1, y0))
    pen.closePath()


def glyph_I(w):
    pen = TTGlyphPen(None)
    s = stem(w)
    rect(pen, SIDE, 0, SIDE + s, CAP)
    return pen.glyph(), SIDE * 2 + s


def glyph_H(w):
    pen = TTGlyphPen(None)
    s = stem(w)
    gap = 300
    rect(pen, SIDE, 0, SIDE + s, CAP)
    rect(pen, SIDE + s + gap, 0, SIDE + 2 * s + gap, CAP)
    rect(pen, SIDE + s, CAP / 2 - s / 2, SIDE + s + gap, CAP / 2 + s / 2)
    return pen.glyph(), SIDE * 2 + 2 * s + gap


def points(glyph, advance):
    """The glyph's coordinates plus the four phantom points gvar varies."""
    coords = list(glyph.coordinates) if glyph.numberOfContours else []
    return coords + [(0, 0), (advance, 0), (0, 0), (0, 0)]


def main():
    order = [".notdef", "space", "I", "H"]
    fb = FontBuilder(UPEM, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({0x20: "space", 0x49: "I", 0x48: "H"})
    empty = TTGlyphPen(None).glyph()
    glyphs = {".notdef": empty, "space": empty}
    metrics = {".notdef": (500, 0), "space": (250, 0)}
    variations = {}
    for name, make in (("I", glyph_I), ("H", glyph_H)):
        g, adv = make(400)
        glyphs[name] = g
        metrics[name] = (round(adv), SIDE)
        base = points(g, adv)
        variations[name] = []
        for peak, w in ((-1.0, 100), (1.0, 900)):
            gw, advw = make(w)
            other = points(gw, advw)
            deltas = [(round(b[0] - a[0]), round(b[1] - a[1])) for a, b in zip(base, other)]
            variations[name].append(TupleVariation({"wght": (min(peak, 0), peak, max(peak, 0))}, deltas))
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=900, descent=-200)
    fb.setupNameTable({"familyName": "Reel Var Test", "styleName": "Regular", "psName": "ReelVarTest-Regular"})
    fb.setupOS2(usWeightClass=400, sTypoAscender=900, sTypoDescender=-200, usWinAscent=900, usWinDescent=200)
    fb.setupPost()
    axes = [("wght", 100, 400, 900, "Weight")]
    instances = [
        {"stylename": "Thin", "location": {"wght": 100}},
        {"stylename": "Regular", "location": {"wght": 400}},
        {"stylename": "Bold", "location": {"wght": 700}},
        {"stylename": "Black", "location": {"wght": 900}},
    ]
    fb.setupFvar(axes, instances)
    fb.setupGvar(variations)
    fb.save("ReelVarTest.ttf")


if __name__ == "__main__":
    main()
