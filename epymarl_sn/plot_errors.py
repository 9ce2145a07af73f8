"""The one error `epymarl-sn plot` reports as a message instead of a traceback: the
runs or the request cannot make a figure; the message says why and how to fix it.
Kept apart so that the command can catch it without loading matplotlib and rliable."""


class PlotError(ValueError):
    pass
