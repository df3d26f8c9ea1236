"""What the results say: bin/spam_report.

statistics (pure functions over per-seed scores, rliable's intervals), paired (the
sign-flip test, its intervals, Holm), scores (each method's per-seed scores and its
comparisons), sparsity (what the reconstruction and f2 did to the weights), figures,
tables, text (generated sentences), genome_section, report (REPORT.md). Reads
summary.json and the units' files; trains nothing.
"""
