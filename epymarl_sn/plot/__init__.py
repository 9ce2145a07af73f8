"""Figures and tables from stored runs: aggregation with bootstrap CIs (`aggregate`),
panels per task (`panels`), matplotlib (`figure`), the final table (`table`) and the
presets (`make`)."""
