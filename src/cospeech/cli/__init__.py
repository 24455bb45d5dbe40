"""Command-line interface: one module per command group; ``main.py`` only assembles them."""
