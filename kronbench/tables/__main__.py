"""`python -m kronbench.tables`: see kronbench/tables/__init__.py."""

from kronbench.tables import main

main()
