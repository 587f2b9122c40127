"""The BMI-for-age chart, drawn with matplotlib: « le graphique d'évolution des données IMC ».

Pure: points and curves in, PNG or SVG bytes out. matplotlib's object API
(``Figure`` + the Agg canvas, no ``pyplot`` and its global state) so charts
can be drawn in worker threads; it is imported on first use, keeping the
server's start fast. In the SVG, text stays text (``svg.fonttype: none``) and
the child's points are the group ``bmi-points``, each point one marker, so a
client (or a test) can read what is drawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

PNG = "image/png"
SVG = "image/svg+xml"
CURVE_LABELS = {"iotf25": "IOTF 25 (surpoids)", "iotf30": "IOTF 30 (obésité)"}
CURVE_COLOURS = {"iotf25": "#e69f00", "iotf30": "#d55e00"}
POINTS_GID = "bmi-points"


@dataclass(frozen=True)
class ChartData:
    sex_label: str  # « garçon » / « fille »
    points: list[tuple[float, float]]  # (age in years, BMI), sorted by age
    curves: dict[str, list[tuple[float, float]]]  # cut-off column -> its points


def render(data: ChartData, media_type: str) -> bytes:
    """The chart as ``image/png`` or ``image/svg+xml``."""
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rcParams["svg.fonttype"] = "none"
    rcParams["svg.hashsalt"] = "mrtc-bmi-chart"  # the same chart gives the same bytes
    figure = Figure(figsize=(8, 5.5), dpi=100)
    axes = figure.add_subplot()
    for column, points in data.curves.items():
        axes.plot(
            [a for a, _ in points],
            [v for _, v in points],
            color=CURVE_COLOURS.get(column, "grey"),
            linewidth=1.6,
            label=CURVE_LABELS.get(column, column),
        )
    if data.points:
        (line,) = axes.plot(
            [a for a, _ in data.points],
            [v for _, v in data.points],
            color="#0072b2",
            marker="o",
            linestyle="-",
            linewidth=1.2,
            label="IMC de l'enfant",
        )
        line.set_gid(POINTS_GID)
    else:
        axes.text(0.5, 0.5, "Aucune mesure d'IMC", transform=axes.transAxes, ha="center")
    axes.set_title(f"Évolution de l'IMC — {data.sex_label}, seuils IOTF")
    axes.set_xlabel("Âge (années)")
    axes.set_ylabel("IMC (kg/m²)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left")
    figure.subplots_adjust(left=0.08, right=0.97, top=0.93, bottom=0.1)  # tight_layout costs ~30%
    FigureCanvasAgg(figure)  # the raster canvas; savefig switches to SVG when asked
    out = io.BytesIO()
    if media_type == SVG:
        figure.savefig(out, format="svg", metadata={"Date": None})
    else:
        figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
