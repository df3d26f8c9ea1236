"""What the results say: bin/spam_report.

statistics (pure functions over per-seed scores), scores (each method's per-seed
scores and comparisons), weights (what the reconstruction and f2 did to the
weights), figures, text (generated sentences), genome_section, report (REPORT.md).
Reads summary.json and the units' files; trains nothing.
"""
