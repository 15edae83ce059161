"""The command line: one module per command, thin; errors become exit codes in main.py."""
