"""Offer decisioning: which offer each member gets, through which channel and when, within
budget, consent, caps and holdouts. Pure modules (holdout, candidates, allocation, the response
model) plus run modules that alone read and write tables and MLflow."""
