"""Colour contrast as WCAG 2.1 defines it, from the colours a browser computes.

Computed colours come as ``rgb(r, g, b)`` or ``rgba(r, g, b, a)``; a translucent colour is
composed over the colours beneath it, down to the white canvas.
"""

from __future__ import annotations

import re

Rgb = tuple[float, float, float]
WHITE: Rgb = (255.0, 255.0, 255.0)
_COLOUR = re.compile(r"rgba?\(\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\s*\)")


def parse(colour: str) -> tuple[Rgb, float]:
    """Return the channels and the alpha of a computed CSS colour."""
    match = _COLOUR.fullmatch(colour.strip())
    if match is None:
        raise ValueError(f"not a computed rgb() colour: {colour!r}")
    red, green, blue, alpha = match.groups()
    return (float(red), float(green), float(blue)), 1.0 if alpha is None else float(alpha)


def composite(layers: list[str]) -> Rgb:
    """Return the colour seen through ``layers``, the nearest first, over a white canvas."""
    seen = WHITE
    for layer in reversed(layers):
        channels, alpha = parse(layer)
        seen = (
            channels[0] * alpha + seen[0] * (1 - alpha),
            channels[1] * alpha + seen[1] * (1 - alpha),
            channels[2] * alpha + seen[2] * (1 - alpha),
        )
    return seen


def luminance(colour: Rgb) -> float:
    """Return the relative luminance of an sRGB colour (WCAG 2.1, definitions)."""

    def linear(channel: float) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def ratio(first: Rgb, second: Rgb) -> float:
    """Return the contrast ratio of two colours, from 1 to 21."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
