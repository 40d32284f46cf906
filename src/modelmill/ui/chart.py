"""A metric over a model's versions as an inline SVG line chart, drawn on the server (no script,
no CDN): what a model's page shows of its headline metric."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD, LEFT = 560, 180, 36, 72  # LEFT: room for the value labels


def svg_line(points: list[tuple[int, float | None]], label: str) -> str:
    """`points` are (version, value); versions without a value are skipped."""
    shown = [(v, y) for v, y in points if isinstance(y, (int, float))]
    if not shown:
        return ""
    versions = [v for v, _ in shown]
    values = [float(y) for _, y in shown]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    first, last = min(versions), max(versions)
    span = (last - first) or 1

    def x(v: int) -> float:
        return LEFT + (v - first) / span * (WIDTH - LEFT - PAD)

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - low) / (high - low) * (HEIGHT - 2 * PAD)

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(v):.1f},{y(val):.1f}" for i, (v, val) in enumerate(zip(versions, values))
    )
    dots = "".join(
        f'<circle cx="{x(v):.1f}" cy="{y(val):.1f}" r="3"><title>v{v}: {val:.6g}</title></circle>'
        for v, val in zip(versions, values)
    )
    ticks = "".join(
        f'<text x="{x(v):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">v{v}</text>' for v in _ticks(versions)
    )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)} by version">'
        f'<text x="{LEFT}" y="16">{escape(label)}</text>'
        f'<text x="{LEFT - 8}" y="{y(high) + 4:.1f}" text-anchor="end">{high:.4g}</text>'
        f'<text x="{LEFT - 8}" y="{y(low) + 4:.1f}" text-anchor="end">{low:.4g}</text>'
        f'<path d="{path}" fill="none" stroke="currentColor" stroke-width="2"/>{dots}{ticks}</svg>'
    )


def _ticks(versions: list[int], most: int = 10) -> list[int]:
    step = max(1, -(-len(versions) // most))
    return versions[::step]
