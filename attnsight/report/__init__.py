"""One self-contained HTML report over trained bundles: data and cleaning, training curves,
metrics beside baselines, and per task what the model attends to (recommendations and segments,
attended words, risky events and their evidence). `write_report([Path("my-model")], Path("report.html"))`.
"""

from attnsight.report.build import Report, build_report, make_report, write_report

__all__ = ["Report", "build_report", "make_report", "write_report"]
