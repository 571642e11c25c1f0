"""Reading a cumulative link fit as economists report it: predicted probabilities with delta-method standard
errors (`prediction`, as R's `predict.clm(se.fit = TRUE)`), average marginal effects on the probability of each
outcome level (`marginal_effects`, as Stata's `margins` or R's `marginaleffects`), and the likelihood-ratio test of
each term's proportional-odds assumption (`nominal_test`, as `ordinal::nominal_test`).
"""

from __future__ import annotations
