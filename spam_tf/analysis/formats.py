"""How the report writes numbers: small formatting helpers every section shares."""
import numpy as np

WORDS = {"better": "faster", "worse": "slower", "no difference": "no difference"}


def fmt(value, digits=1):
  return "—" if value is None else f"{value:.{digits}f}"


def interval(point, low, high, digits=1):
  return f"{fmt(point, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def saved(comparison, digits=1):
  """A comparison of iterations (method - reference) as iterations saved (reference -
  method: positive means the method is faster), with its interval: '+2.5 [+0.7, +4.4]'."""
  mean, low, high = (-comparison[k] for k in ("mean", "high", "low"))
  mean, low, high = (round(v, digits) + 0.0 for v in (mean, low, high))
  if not np.isfinite(low) or not np.isfinite(high):
    return f"{mean:+.{digits}f} [unbounded: too few seeds]"
  return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def saved_exploratory(comparison, digits=1):
  """saved() with the raw p-value: an exploratory comparison, no verdict word."""
  return f"{saved(comparison, digits)}, p = {comparison['p']:.2g}"


def threshold_text(scale):
  """'the criterion 1000' or 'the fallback 304.7 (...)': what iterations count to."""
  if scale.fallback is None:
    note = (" (fewer than half of the runs reach it, and the return they hold at the end is no higher than "
            "where they start: no usable fallback)" if scale.unusable_fallback else "")
    return f"the criterion {scale.criterion:g}{note}"
  return (f"the fallback threshold {scale.fallback:.1f} (fewer than half of the runs reach the criterion "
          f"{scale.criterion:g}: the median over every run of the experiment of its mean return over the last "
          "10 iterations)")
