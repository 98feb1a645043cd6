"""``python -m service`` runs the ``zhida`` command line."""

from service.cli import main

main()
