"""What the user sees: console (the terminal for the project's own output, a log
file for everything else) and progress (the live display read from the units'
files). Imports nothing else of the project, so every layer may use it.
"""
