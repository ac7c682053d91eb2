"""``python -m forecast``: the command line, as the ``forecast`` script runs it."""

from forecast.cli import main

main(prog_name="forecast")
