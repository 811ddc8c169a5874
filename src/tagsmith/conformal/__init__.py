"""Conformal label sets with a stated guarantee, from sparse top-k probabilities.

* :mod:`tagsmith.conformal.risk`: recall control (conformal risk control of the
  false-negative rate), at any label-space size; Mondrian per frequency band.
* :mod:`tagsmith.conformal.lpicp`: label-powerset inductive conformal prediction
  with pruning (label-set coverage), for small label spaces.
"""
