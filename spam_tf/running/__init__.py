"""Running experiments: units of work, their identities, and how they run.

units (a trained thing and its folder), experiment (an experiment's units: its
plan), worker (what a worker runs for one unit), summary (summary.json of an
experiment), engine (Ray or in-process), sweep (sweep files, the run of a root_dir),
provenance (what made a root's results), learners (the learner search), bench
(bin/spam_bench). Built on spam_tf.rl and spam_tf.spam.
"""
